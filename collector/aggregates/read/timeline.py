"""A host's reports per hour or per day, from its daily buckets, zero-filled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from collector.aggregates.read.context import ReadContext
from collector.aggregates.read.replies import rfc3339, text
from collector.aggregates.read.windows import Window, stamp

HOUR_DEFAULT_DAYS = 7


def timeline_doc(ctx: ReadContext, hostname: str, interval: str, window: Window) \
        -> dict[str, Any] | None:
    """Reports per ``hour`` or ``day``; None for a host Redis holds nothing of.

    The hour view defaults to the last 7 days (168 points) unless ``since`` is given; the day
    view defaults to the retention period. Either is clipped to what Redis still holds.
    """
    now = datetime.now(UTC)
    if interval == "hour" and window.since is None:
        end = window.until or now
        floor = now - timedelta(days=ctx.retention_days)
        window = Window(max(end, floor) - timedelta(days=HOUR_DEFAULT_DAYS), window.until)
    hk = ctx.keys.host(hostname)
    days = window.days(ctx.retention_days, now)
    with ctx.client.pipeline(transaction=False) as pipe:
        pipe.exists(hk.meta)
        for d in days:
            pipe.hgetall(hk.day(stamp(d)))
        exists, *rows = pipe.execute()
    if not exists and not any(rows):
        return None
    points = []
    for day, raw in zip(days, rows, strict=True):
        row = {text(k): int(v) for k, v in raw.items()}
        hours = [h for h in range(24)
                 if window.hour_in(day, h) and day + timedelta(hours=h) <= now]
        counts = {h: row.get(f"h{h:02d}", 0) for h in hours}
        if interval == "day":
            if hours:
                points.append({"start": rfc3339(day), "reports": sum(counts.values())})
        else:
            points.extend({"start": rfc3339(day + timedelta(hours=h)), "reports": n}
                          for h, n in counts.items())
    span = window.span(ctx.retention_days, now)
    return {
        "hostname": hostname, "interval": interval,
        "since": rfc3339(span[0]) if span else None,
        "until": rfc3339(span[1]) if span else None,
        "points": points,
    }
