"""Reports per hour or per day, from daily buckets, zero-filled: of a host, of a chain (on all
its hosts), and of one (host, chain) pair. Each series has the same shape and defaults."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from collector.aggregates.read.context import ReadContext
from collector.aggregates.read.replies import rfc3339, text
from collector.aggregates.read.windows import Window, stamp

HOUR_DEFAULT_DAYS = 7


def _series(ctx: ReadContext, record: str, day_key: Callable[[str], str], interval: str,
            window: Window) -> dict[str, Any] | None:
    """``interval``, ``since``, ``until`` and ``points`` of one series of daily buckets; None
    when neither ``record`` nor any bucket of the window exists.

    The hour view defaults to the last 7 days (168 points) unless ``since`` is given; the day
    view defaults to the retention period. Either is clipped to what Redis still holds.
    """
    now = datetime.now(UTC)
    if interval == "hour" and window.since is None:
        end = window.until or now
        floor = now - timedelta(days=ctx.retention_days)
        window = Window(max(end, floor) - timedelta(days=HOUR_DEFAULT_DAYS), window.until)
    days = window.days(ctx.retention_days, now)
    with ctx.client.pipeline(transaction=False) as pipe:
        pipe.exists(record)
        for d in days:
            pipe.hgetall(day_key(stamp(d)))
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
        "interval": interval,
        "since": rfc3339(span[0]) if span else None,
        "until": rfc3339(span[1]) if span else None,
        "points": points,
    }


def timeline_doc(ctx: ReadContext, hostname: str, interval: str, window: Window) \
        -> dict[str, Any] | None:
    """A host's reports per ``hour`` or ``day``; None for a host Redis holds nothing of."""
    hk = ctx.keys.host(hostname)
    doc = _series(ctx, hk.meta, hk.day, interval, window)
    return None if doc is None else {"hostname": hostname, **doc}


def global_timeline_doc(ctx: ReadContext, interval: str, window: Window) -> dict[str, Any]:
    """Every host's reports per ``hour`` or ``day`` (the global daily buckets): the
    dashboard's overview chart. Never None: a collector without reports has zero points."""
    g = ctx.keys.glob
    doc = _series(ctx, g.totals, g.day, interval, window)
    return doc if doc is not None else {"interval": interval, "since": None, "until": None,
                                        "points": []}


def chain_timeline_doc(ctx: ReadContext, fp: str, interval: str, window: Window) \
        -> dict[str, Any] | None:
    """A chain's reports on all its hosts per ``hour`` or ``day``; None for an unknown chain."""
    g = ctx.keys.glob
    doc = _series(ctx, g.chain(fp), lambda d: g.chain_day(fp, d), interval, window)
    return None if doc is None else {"fingerprint": fp, **doc}


def pair_timeline_doc(ctx: ReadContext, hostname: str, fp: str, interval: str,
                      window: Window) -> dict[str, Any] | None:
    """One chain's reports on one host per ``hour`` or ``day``; None when the host holds no
    record of that chain (unknown host or chain, or a chain folded into the host's ``other``)."""
    hk = ctx.keys.host(hostname)
    doc = _series(ctx, hk.pair(fp), lambda d: hk.pair_day(fp, d), interval, window)
    return None if doc is None else {"hostname": hostname, "fingerprint": fp, **doc}
