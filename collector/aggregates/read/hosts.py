"""Hosts read back: the host list and the host view, with pin advice and hard-fail readiness."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from collector.aggregates.keys import HostKeys
from collector.aggregates.read import rankings, readiness
from collector.aggregates.read.context import ReadContext
from collector.aggregates.read.pairs import (
    ENFORCE,
    OTHER,
    app_doc,
    pair_doc,
    public_cert_info,
    read_pairs,
)
from collector.aggregates.read.recommendation import host_recommendation
from collector.aggregates.read.replies import iso, pfcount, ranked, text
from collector.aggregates.read.spans import covers, span
from collector.aggregates.read.triage import IGNORED, triage_of
from collector.aggregates.read.windows import DailyRows, Window, daily
from collector.intel.advice import pin_set_advice


def hosts_page(ctx: ReadContext, window: Window, sort: str, offset: int, limit: int) \
        -> tuple[list[dict[str, Any]], bool]:
    """One page of hosts by ``reports`` or ``last_seen``, and whether more follow.

    Under a window an item's figures come from the host's daily buckets of the window's days
    (one HGETALL per host and day); the order is that of the ranking (day resolution).
    """
    page, days, more = host_ranking(ctx, window, sort, offset, limit)
    return host_items(ctx, window, sort, page, days), more


def host_ranking(ctx: ReadContext, window: Window, sort: str, offset: int, limit: int) \
        -> rankings.Page:
    """(hostname, score) of one page of the host ranking ``hosts_page`` lists, the window's
    day stamps, and whether more follow."""
    g = ctx.keys.glob
    if sort == "last_seen" and window.bounded:
        page, days, more = rankings.page(ctx, rankings.HOSTS_LAST, window, 0, 10**9)
        lasts = rankings.scores(ctx.client, rankings.HOSTS_LAST, [h for h, _ in page], g.of_host)
        order = sorted(zip(page, lasts, strict=True), key=lambda p: (-(p[1] or 0), p[0][0]))
        page = [p for p, _ in order][offset:offset + limit]
        more = len(order) > offset + limit
        return page, days, more
    return rankings.page(ctx, rankings.HOSTS if sort == "reports" else rankings.HOSTS_LAST,
                         window, offset, limit)


def host_items(ctx: ReadContext, window: Window, sort: str, page: list[tuple[str, int]],
               days: list[str]) -> list[dict[str, Any]]:
    """The host list's items for ranked (hostname, score) pairs (one pipeline)."""
    with ctx.client.pipeline(transaction=False) as pipe:
        for hostname, _ in page:
            hk = ctx.keys.host(hostname)
            pipe.hmget(hk.meta, "reports", "first_seen", "last_seen")
            if days:
                pfcount(pipe, *[hk.devices_day(d) for d in days])
                for d in days:
                    pipe.hgetall(hk.day(d))
            else:
                pfcount(pipe, hk.devices)
                pipe.zcard(hk.chains)
                pipe.zscore(hk.chains, OTHER)
        rows = iter(pipe.execute())
    items = []
    for hostname, score in page:
        (reports, first, last), devices = next(rows), next(rows)
        if days:  # every figure from the window's daily buckets
            found = span([(datetime.strptime(d, "%Y%m%d").replace(tzinfo=UTC),
                           {text(k): int(v) for k, v in next(rows).items()}) for d in days],
                         window)
            count, first, last = found.reports, found.first_ms, found.last_ms
            chains = sum(1 for fp, n in found.pick("c").items() if n and fp != OTHER)
        else:
            chains, other = next(rows), next(rows)
            chains -= 1 if other is not None else 0
            # meta may expire a moment before the ranking; a last_seen score is no count
            count = int(reports) if reports is not None else score if sort == "reports" else 0
        items.append({
            "hostname": hostname,
            "reports": count,
            "devices": devices,
            "chains": chains,
            "first_seen": iso(first),
            "last_seen": iso(last),
        })
    return items


@dataclass(frozen=True)
class _Figures:
    """The host's own figures, all-time or over a window."""

    reports: int
    devices: int
    first_ms: int | None
    last_ms: int | None
    apps: dict[str, int]
    pin_sets: dict[str, int]
    results: dict[str, int]
    enforcement: dict[str, int]
    flags: dict[str, int]
    test_reports: int | None
    rows: DailyRows
    """The window's daily buckets (empty without a window)."""
    whole: bool
    """Whether the window holds the host's whole history (all-time figures are its own)."""


def host_doc(ctx: ReadContext, hostname: str, window: Window) -> dict[str, Any] | None:
    """The host view: breakdowns, its chains (pairs), pin advice and hard-fail readiness.

    Each pair carries its ``triage`` state; ignored pairs are listed apart (``ignored_chains``)
    and still count in every figure (ignoring silences alerts, it deletes nothing).

    Every figure honours the window, or its name ends in ``_all_time``; what the stored data
    cannot give for a window (distinct devices per app, the number of ``other`` chains when
    the window holds only part of the host's history) is null there.
    """
    hk = ctx.keys.host(hostname)
    with ctx.client.pipeline(transaction=False) as pipe:
        pipe.hgetall(hk.meta)
        pfcount(pipe, hk.devices)
        pipe.zrevrange(hk.chains, 0, -1, withscores=True)
        pipe.zrevrange(hk.apps, 0, -1, withscores=True)
        pipe.hgetall(hk.results)
        pipe.hgetall(hk.enforce)
        pipe.zrevrange(hk.pinsets, 0, -1, withscores=True)
        pfcount(pipe, hk.other_chains)
        readiness.queue_all_time(pipe, hk)
        replies = pipe.execute()
    meta_raw, devices, chains, apps, results, enforce, pinsets, other_chains = replies[:8]
    if not meta_raw:
        return None
    meta = {text(k): text(v) for k, v in meta_raw.items()}
    chain_counts = dict(ranked(chains))
    if window.bounded:
        fig = _windowed(ctx, hk, meta, window)
        ready = readiness.Readiness.windowed(ctx, hk, span(fig.rows, window), fig.whole)
    else:
        fig = _Figures(
            int(meta.get("reports", 0)), devices, _ms(meta.get("first_seen")),
            _ms(meta.get("last_seen")), dict(ranked(apps)), dict(ranked(pinsets)),
            {text(k): int(v) for k, v in results.items()},
            {text(k): int(v) for k, v in enforce.items()},
            {k.removeprefix("flag:"): int(v) for k, v in meta.items() if k.startswith("flag:")},
            int(meta.get("test_reports", 0)), [], True)
        ready = readiness.Readiness.all_time(replies[8:8 + readiness.REPLIES])
    pairs = read_pairs(ctx, hk, hostname,
                       {fp: n for fp, n in chain_counts.items() if fp != OTHER}, window,
                       fig.rows)
    info = public_cert_info(ctx, pairs)
    public_pins = {pin for pin, _ in info.values()}
    today = datetime.now(UTC).date()
    other_reports = max(fig.reports - sum(p.reports for p in pairs), 0) if window.bounded \
        else chain_counts.get(OTHER, 0)
    states = triage_of(ctx, [(hostname, p.fp, p.certs) for p in pairs])
    entries = [{**pair_doc(p, info, ready.failing, ready.at_risk),
                "triage": states[hostname, p.fp]}
               for p in sorted(pairs, key=lambda p: (-p.reports, p.fp))]
    return {
        "hostname": meta.get("hostname", hostname),
        "reports": fig.reports,
        "devices": fig.devices,
        "first_seen": iso(fig.first_ms),
        "last_seen": iso(fig.last_ms),
        "test_reports": fig.test_reports,
        "test_reports_all_time": int(meta.get("test_reports", 0)),
        "chains": [e for e in entries if e["triage"]["state"] != IGNORED],
        "ignored_chains": [e for e in entries if e["triage"]["state"] == IGNORED],
        "more_chains": {
            "reports": other_reports,
            "chains": other_chains if fig.whole else 0 if not other_reports else None,
            "chains_all_time": other_chains,
        },
        "apps": [app_doc(k, n) for k, n in sorted(fig.apps.items(), key=lambda p: -p[1])],
        "validation_results": fig.results,
        "enforcement": {name: fig.enforcement.get(name, 0) for name in ENFORCE},
        "pin_sets": [_pinset(k, n, public_pins, today)
                     for k, n in sorted(fig.pin_sets.items(), key=lambda p: -p[1])],
        "flags": fig.flags,
        "hard_fail_readiness": ready.doc(ctx, hk),
        "recommended_pins": host_recommendation(
            ctx, hostname, [(p.fp, p.reports, p.shown[0]) for p in pairs],
            [(json.loads(k)[0], n) for k, n in fig.pin_sets.items() if k != OTHER]),
    }


def _windowed(ctx: ReadContext, hk: HostKeys, meta: dict[str, str], window: Window) \
        -> _Figures:
    """The host's figures from the window's daily buckets (one or two round trips)."""
    rows = daily(ctx, window, hk.day)
    found = span(rows, window)
    devices = ctx.client.pfcount(*[hk.devices_day(d) for d in found.days]) if found.days else 0
    return _Figures(
        found.reports, devices, found.first_ms, found.last_ms, found.pick("a"), found.pick("p"),
        found.pick("r"), found.pick("e"), found.pick("x"),
        sum(row.get("test_reports", 0) for _, row in rows),
        rows, covers(window, _ms(meta.get("first_seen")), _ms(meta.get("last_seen"))))


def _ms(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def _pinset(key: str, reports: int, public_pins: set[str], today: date) -> dict[str, Any]:
    """A pin set as clients reported it, with the advice of SPEC section 6."""
    if key == "other":  # the overflow bucket: many sets, no advice possible
        return {"pins": [], "expiration": None, "reports": reports, "other": True,
                "has_backup_pin": None, "matches_public_trust_key": None,
                "matching_pins": [], "days_to_expiry": None}
    pins, expiration = json.loads(key)
    advice = pin_set_advice(pins, expiration, public_pins, today)
    return {"pins": pins, "expiration": expiration, "reports": reports, "other": False,
            "has_backup_pin": advice["has_backup_pin"],
            "matches_public_trust_key": advice["matches_public_trust_key"],
            "matching_pins": advice["matching_pins"],
            "days_to_expiry": advice["days_to_expiry"]}
