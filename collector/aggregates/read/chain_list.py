"""The chain list: chains by reports, filtered by class and by host.

The list shows each chain's own class, or the (host, chain) pair's when filtered by host
(SPEC §6, ``read.chain_classes``).

Filtering a ranking by class cannot be done in Redis, so a filtered page scans the ranking in
batches, at most ``SCAN_BUDGET`` members per request; its cursor is the offset reached in the
ranking. A filtered page may therefore hold fewer than ``limit`` items (even none) while more
follow: ``next_cursor`` says so.

Each item carries its ``triage`` state: the (host, chain) pair's when filtered by host, else
the chain's issuers' (no pair without a host). Ignored chains stay in the list, marked so: a
paged ranking cannot move them apart without breaking its cursors.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from collector.aggregates.read import rankings
from collector.aggregates.read.certificates import cert_list
from collector.aggregates.read.chain_classes import chain_classes, pair_shown
from collector.aggregates.read.classes import Shown
from collector.aggregates.read.context import ReadContext
from collector.aggregates.read.replies import OTHER, int_or_none, iso, ranked, text
from collector.aggregates.read.spans import Span, covers, span
from collector.aggregates.read.triage import triage_of
from collector.aggregates.read.windows import Window, daily, stamp, window_days

SCAN_BATCH = 250
SCAN_BUDGET = 2500
"""Ranking members one filtered page may look at (ten batches)."""

Ranked = list[tuple[str, int]]


def _global_ranking(ctx: ReadContext, window: Window) -> Callable[[int, int], Ranked]:
    """``fetch(start, count)`` over the global chain ranking (merged over the shards), or the
    window's union of days."""
    if not window.bounded:
        return rankings.Merged(ctx, rankings.CHAINS).fetch
    days = [stamp(d) for d in window_days(ctx, window)]
    union = sorted(rankings.union_rows(ctx, rankings.CHAINS, days), key=lambda p: (-p[1], p[0]))
    return lambda start, count: union[start:start + count]


def _host_ranking(ctx: ReadContext, hostname: str, window: Window) -> Ranked:
    """The host's chains by reports on it (day resolution under a window), ``other`` left out."""
    hk = ctx.keys.host(hostname)
    if window.bounded:
        counts = span(daily(ctx, window, hk.day), window).pick("c")
    else:
        counts = dict(ranked(ctx.client.zrevrange(hk.chains, 0, -1, withscores=True)))
    return sorted(((fp, n) for fp, n in counts.items() if fp != OTHER and n > 0),
                  key=lambda p: (-p[1], p[0]))


def chains_page(ctx: ReadContext, window: Window, offset: int, limit: int, *,
                classification: str | None = None, hostname: str | None = None) \
        -> tuple[list[dict[str, Any]], int | None]:
    """One page of chains by reports, and the ranking offset the next page starts at (None on
    the last page). With ``hostname``: that host's chains, with the pair's figures and class.
    With ``classification``: only chains showing that class (scanned, see the module doc)."""
    fetch: Callable[[int, int], Ranked]
    if hostname is not None:
        whole = _host_ranking(ctx, hostname, window)

        def fetch(start: int, count: int) -> Ranked:
            return whole[start:start + count]

        def classes(fps: list[str]) -> dict[str, Shown]:
            found = pair_shown(ctx, [(hostname, fp) for fp in fps])
            return {fp: found[hostname, fp] for fp in fps}
    else:
        fetch = _global_ranking(ctx, window)

        def classes(fps: list[str]) -> dict[str, Shown]:
            return {fp: (c[0], c[1]) for fp, c in chain_classes(ctx, fps).items()}

    if classification is None:
        rows = fetch(offset, limit + 1)
        page = rows[:limit]
        shown = classes([fp for fp, _ in page])
        after = offset + limit if len(rows) > limit else None
    else:
        page, shown, after = _scan(fetch, classes, classification, offset, limit)
    if hostname is not None:
        return _host_items(ctx, hostname, window, page, shown), after
    return _items(ctx, window, page, shown), after


def _scan(fetch: Callable[[int, int], Ranked], classes: Callable[[list[str]], dict[str, Shown]],
          classification: str, offset: int, limit: int) \
        -> tuple[Ranked, dict[str, Shown], int | None]:
    """Up to ``limit`` members showing ``classification`` from ``offset`` on, their classes,
    and where the next page starts; at most SCAN_BUDGET members are looked at."""
    page: Ranked = []
    shown: dict[str, Shown] = {}
    pos = offset
    while pos - offset < SCAN_BUDGET:
        batch = fetch(pos, min(SCAN_BATCH, offset + SCAN_BUDGET - pos))
        if not batch:
            return page, shown, None
        found = classes([fp for fp, _ in batch])
        for i, (fp, score) in enumerate(batch):
            if found[fp][0] != classification:
                continue
            if len(page) == limit:
                return page, shown, pos + i
            page.append((fp, score))
            shown[fp] = found[fp]
        pos += len(batch)
    return page, shown, pos


def _window_spans(ctx: ReadContext, window: Window, day_key: Callable[[str], Callable[[str], str]],
                  ids: list[str]) -> dict[str, Span]:
    """Each id's sums over the window's days of its daily buckets (one pipeline)."""
    days = window_days(ctx, window)
    if not ids or not days:
        return {i: span([], window) for i in ids}
    with ctx.client.pipeline(transaction=False) as pipe:
        for i in ids:
            key = day_key(i)
            for d in days:
                pipe.hgetall(key(stamp(d)))
        raw = pipe.execute()
    out = {}
    for n, i in enumerate(ids):
        rows = [(day, {text(k): int(v) for k, v in row.items()})
                for day, row in zip(days, raw[n * len(days):(n + 1) * len(days)], strict=True)]
        out[i] = span(rows, window)
    return out


def _host_counts(ctx: ReadContext, window: Window, fps: list[str],
                 covered: dict[str, bool]) -> dict[str, int]:
    """Hosts each chain was reported for in the window (``other`` left out)."""
    g = ctx.keys.glob
    stamps = [stamp(d) for d in window_days(ctx, window)] if window.bounded else []
    whole = [fp for fp in fps if covered[fp] or not stamps]
    part = [fp for fp in fps if fp not in whole]
    with ctx.client.pipeline(transaction=False) as pipe:
        for fp in whole:
            pipe.zcard(g.chain_hosts(fp))
            pipe.zscore(g.chain_hosts(fp), OTHER)
        for fp in part:
            pipe.zunion([g.chain_hosts_day(fp, d) for d in stamps])
        raw = pipe.execute()
    out = {fp: int(raw[2 * i]) - (0 if raw[2 * i + 1] is None else 1)
           for i, fp in enumerate(whole)}
    for fp, members in zip(part, raw[2 * len(whole):], strict=True):
        out[fp] = sum(1 for h in members if text(h) != OTHER)
    return out


def _items(ctx: ReadContext, window: Window, page: Ranked, shown: dict[str, Shown]) \
        -> list[dict[str, Any]]:
    g = ctx.keys.glob
    fps = [fp for fp, _ in page]
    with ctx.client.pipeline(transaction=False) as pipe:
        for fp in fps:
            pipe.hmget(g.chain(fp), "first_seen", "last_seen", "certs")
        raw = pipe.execute()
    seen = {fp: (int_or_none(a), int_or_none(b)) for fp, (a, b, _) in zip(fps, raw, strict=True)}
    states = triage_of(ctx, [(None, fp, cert_list(r[2])) for fp, r in zip(fps, raw, strict=True)])
    covered = {fp: covers(window, *seen[fp]) for fp in fps}
    if window.bounded:
        spans = _window_spans(ctx, window, lambda fp: lambda d: g.chain_day(fp, d),
                              [fp for fp in fps if not covered[fp]])
        for fp, s in spans.items():
            if s.days:  # chains written before daily chain buckets keep their all-time bounds
                seen[fp] = (s.first_ms, s.last_ms)
    hosts = _host_counts(ctx, window, fps, covered)
    return [{"fingerprint": fp, "reports": score, "hosts": hosts[fp],
             "classification": shown[fp][0], "label": shown[fp][1],
             "first_seen": iso(seen[fp][0]), "last_seen": iso(seen[fp][1]),
             "triage": states[None, fp]}
            for fp, score in page]


def _host_items(ctx: ReadContext, hostname: str, window: Window, page: Ranked,
                shown: dict[str, Shown]) -> list[dict[str, Any]]:
    """Items of a host's chains: the pair's reports, class and first/last seen."""
    hk = ctx.keys.host(hostname)
    fps = [fp for fp, _ in page]
    g = ctx.keys.glob
    with ctx.client.pipeline(transaction=False) as pipe:
        for fp in fps:
            pipe.hmget(hk.pair(fp), "first_seen", "last_seen")
            pipe.hmget(g.chain(fp), "first_seen", "last_seen", "certs")
        raw = pipe.execute()
    seen, chain_seen_ms = {}, {}
    states = triage_of(ctx, [(hostname, fp, cert_list(raw[2 * i + 1][2]))
                             for i, fp in enumerate(fps)])
    for i, fp in enumerate(fps):
        pair, chain = raw[2 * i:2 * i + 2]
        chain_seen_ms[fp] = (int_or_none(chain[0]), int_or_none(chain[1]))
        seen[fp] = (int_or_none(pair[0]), int_or_none(pair[1])) if pair[0] is not None \
            else chain_seen_ms[fp]
    if window.bounded:
        spans = _window_spans(ctx, window, lambda fp: lambda d: hk.pair_day(fp, d),
                              [fp for fp in fps if not covers(window, *seen[fp])])
        for fp, s in spans.items():
            if s.days:
                seen[fp] = (s.first_ms, s.last_ms)
    hosts = _host_counts(ctx, window, fps,
                         {fp: covers(window, *chain_seen_ms[fp]) for fp in fps})
    return [{"fingerprint": fp, "reports": score, "hosts": hosts[fp],
             "classification": shown[fp][0], "label": shown[fp][1],
             "first_seen": iso(seen[fp][0]), "last_seen": iso(seen[fp][1]),
             "triage": states[hostname, fp]}
            for fp, score in page]
