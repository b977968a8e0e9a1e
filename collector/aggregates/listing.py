"""Paged lists (hosts, chains) and the per-host timeline.

Without a window a page is one ZREVRANGE on a global ranking plus one pipeline of per-item
reads, so its cost depends on ``limit``, never on the number of hosts. With a window the
ranking is the union of the daily rankings the window touches (day resolution), paged in
memory. Cursors are offsets into the ranking: stable while counts hold still, and a host
whose rank changes between two pages may appear twice or be skipped, as with any offset.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from collector.aggregates.readutil import Window, iso, pfcount, ranked, rfc3339, text

if TYPE_CHECKING:
    from collector.aggregates.queries import Queries

HOUR_DEFAULT_DAYS = 7


def _page(q: Queries, key: str, day_key: Any, window: Window, offset: int,
          limit: int) -> tuple[list[tuple[str, int]], list[str], bool]:
    """(member, score) for one page, the window's day stamps, and whether more follow."""
    if not window.bounded:
        rows = list(ranked(q.client.zrevrange(key, offset, offset + limit, withscores=True)))
        return rows[:limit], [], len(rows) > limit
    days = [d.strftime("%Y%m%d") for d in q.window_days(window)]
    if not days:
        return [], [], False
    union = sorted(ranked(q.client.zunion([day_key(d) for d in days], withscores=True)),
                   key=lambda p: (-p[1], p[0]))
    return union[offset:offset + limit], days, len(union) > offset + limit


def hosts(q: Queries, window: Window, sort: str, offset: int, limit: int) \
        -> tuple[list[dict[str, Any]], bool]:
    g = q.keys.glob
    if sort == "last_seen" and window.bounded:
        page, days, more = _page(q, g.hosts_last, g.day_hosts, window, 0, 10**9)
        lasts = q.client.zmscore(g.hosts_last, [h for h, _ in page]) if page else []
        order = sorted(zip(page, lasts, strict=True), key=lambda p: (-(p[1] or 0), p[0][0]))
        page = [p for p, _ in order][offset:offset + limit]
        more = len(order) > offset + limit
    else:
        page, days, more = _page(q, g.hosts if sort == "reports" else g.hosts_last,
                                 g.day_hosts, window, offset, limit)
    with q.client.pipeline(transaction=False) as pipe:
        for hostname, _ in page:
            hk = q.keys.host(hostname)
            pipe.hmget(hk.meta, "reports", "first_seen", "last_seen")
            if days:
                pfcount(pipe, *[hk.devices_day(d) for d in days])
            else:
                pfcount(pipe, hk.devices)
            pipe.zcard(hk.chains)
            pipe.zscore(hk.chains, "other")
        rows = pipe.execute()
    items = []
    for i, (hostname, score) in enumerate(page):
        (reports, first, last), devices, chains, other = rows[4 * i:4 * i + 4]
        if days:
            count = score  # reports inside the window
        elif reports is not None:
            count = int(reports)
        else:  # meta expired a moment before the ranking; a last_seen score is no count
            count = score if sort == "reports" else 0
        items.append({
            "hostname": hostname,
            "reports": count,
            "devices": devices,
            "chains": chains - (1 if other is not None else 0),
            "first_seen": iso(first),
            "last_seen": iso(last),
        })
    return items, more


def chains(q: Queries, window: Window, offset: int, limit: int) \
        -> tuple[list[dict[str, Any]], bool]:
    g = q.keys.glob
    page, _, more = _page(q, g.chains, g.day_chains, window, offset, limit)
    with q.client.pipeline(transaction=False) as pipe:
        for fp, _ in page:
            pipe.hmget(g.chain(fp), "first_seen", "last_seen", "classification", "label")
            pipe.zcard(g.chain_hosts(fp))
        rows = pipe.execute()
    items = []
    for i, (fp, score) in enumerate(page):
        (first, last, cls, label), nhosts = rows[2 * i:2 * i + 2]
        items.append({
            "fingerprint": fp, "reports": score, "hosts": nhosts,
            "classification": text(cls) if cls else "unknown",
            "label": text(label) if label else None,
            "first_seen": iso(first), "last_seen": iso(last),
        })
    return items, more


def timeline(q: Queries, hostname: str, interval: str, window: Window) -> dict[str, Any] | None:
    """Reports per hour or per day from the host's daily buckets, zero-filled.

    The hour view defaults to the last 7 days (168 points) unless ``since`` is given; the day
    view defaults to the retention period. Either is clipped to what Redis still holds.
    """
    now = datetime.now(UTC)
    if interval == "hour" and window.since is None:
        end = window.until or now
        floor = now - timedelta(days=q.retention_days)
        window = Window(max(end, floor) - timedelta(days=HOUR_DEFAULT_DAYS), window.until)
    hk = q.keys.host(hostname)
    days = window.days(q.retention_days, now)
    with q.client.pipeline(transaction=False) as pipe:
        pipe.exists(hk.meta)
        for d in days:
            pipe.hgetall(hk.day(d.strftime("%Y%m%d")))
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
    span = window.span(q.retention_days, now)
    return {
        "hostname": hostname, "interval": interval,
        "since": rfc3339(span[0]) if span else None,
        "until": rfc3339(span[1]) if span else None,
        "points": points,
    }
