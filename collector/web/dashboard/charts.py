"""Chart view-models: what a page hands to ``dashboard.js`` (in a JSON data block) and to the
canvas's fallback table (shown where scripts do not run).

A chart is a ``<canvas role="img" aria-label="...">``; the label names what it shows, its
interval and its total, so a screen reader gets the gist without the fallback table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from collector.web.dashboard import timefmt

FALLBACK_ROWS = 48
"""The fallback table lists the buckets that hold reports, the latest this many."""


@dataclass(frozen=True)
class Chart:
    id: str
    title: str
    aria_label: str
    data: dict[str, Any]
    """``labels``, ``values``, ``interval``: what dashboard.js draws."""
    rows: list[tuple[str, str, int]]
    """(RFC 3339 start, UTC text, reports) of non-empty buckets, for the fallback table."""
    total: int
    more_rows: int


def _label(start: str, interval: str) -> str:
    found = timefmt.parse(start)
    if found is None:
        return start
    return found.strftime("%m-%d %H:00" if interval == "hour" else "%Y-%m-%d")


def timeline(chart_id: str, doc: dict[str, Any] | None, what: str) -> Chart:
    """The chart of a timeline view (``timeline_doc`` and friends): reports per bucket."""
    interval = (doc or {}).get("interval") or "day"
    points = (doc or {}).get("points") or []
    per = "hour" if interval == "hour" else "day"
    total = sum(int(p["reports"]) for p in points)
    filled = [p for p in points if p["reports"]]
    rows = [(p["start"], timefmt.utc(p["start"]), int(p["reports"]))
            for p in filled[-FALLBACK_ROWS:]]
    span = ""
    if points:
        span = f" from {timefmt.utc(points[0]['start'])} to {timefmt.utc(points[-1]['start'])}"
    aria = f"Timeline of reports {what}, per {per}{span}: {total} reports in all"
    return Chart(
        id=chart_id,
        title=f"Reports per {per}{span}",
        aria_label=aria,
        data={"interval": interval, "labels": [_label(p["start"], interval) for p in points],
              "values": [int(p["reports"]) for p in points], "series": "Reports"},
        rows=rows,
        total=total,
        more_rows=max(len(filled) - FALLBACK_ROWS, 0),
    )
