"""The summary view: who loses service now, totals, the top hosts and chains, reports by class.

``hosts_losing_service_now`` comes first: hosts whose enforcing clients fail on a public-trust
(host, chain) pair, by reports, with their distinct failing devices. ``devices_failing_now`` and
``devices_at_risk`` are the host view's figures summed over hosts (a device failing on two hosts
counts twice, as it loses service twice).
"""

from __future__ import annotations

from typing import Any

from collector.aggregates.read import rankings
from collector.aggregates.read.chain_classes import chain_classes
from collector.aggregates.read.context import ReadContext
from collector.aggregates.read.rankings import CHAINS, HOSTS, HOSTS_BREAKING, HOSTS_FAILING
from collector.aggregates.read.replies import pfcount, text
from collector.aggregates.read.windows import Window, daily, stamp, windowed

LOSING_LISTED = 100
"""At most this many hosts are listed as losing service; the device sums cover all of them."""


def summary_doc(ctx: ReadContext, window: Window, top: int = 10) -> dict[str, Any]:
    """One pipeline on the running totals and every shard's rankings; with a window, the
    daily buckets it covers."""
    g = ctx.keys.glob
    if window.bounded:
        return _summary_window(ctx, window, top)
    with ctx.client.pipeline(transaction=False) as pipe:
        pipe.hmget(g.totals, "reports", "test_reports")
        pfcount(pipe, g.devices)
        pipe.hgetall(g.classes)
        sizes = [rankings.queue_count(pipe, ctx, HOSTS), rankings.queue_count(pipe, ctx, CHAINS),
                 rankings.queue_top(pipe, ctx, HOSTS, top),
                 rankings.queue_top(pipe, ctx, CHAINS, top),
                 rankings.queue_top(pipe, ctx, HOSTS_FAILING, -1)]
        (reports, tests), devices, classes, *rest = pipe.execute()
    parts, at = [], 0
    for n in sizes:
        parts.append(rest[at:at + n])
        at += n
    hosts, chains = sum(int(c) for c in parts[0]), sum(int(c) for c in parts[1])
    doc = _doc(ctx, int(reports or 0), hosts, chains, devices,
               rankings.merge_top(parts[2], top), rankings.merge_top(parts[3], top),
               {text(k): int(v) for k, v in classes.items()})
    failing = sorted(rankings.merge_top(parts[4], -1), key=lambda p: (-p[1], p[0]))
    tests_all_time = int(tests or 0)
    return {**_losing(ctx, failing, []),
            **doc, "test_reports": tests_all_time, "test_reports_all_time": tests_all_time}


def _summary_window(ctx: ReadContext, window: Window, top: int) -> dict[str, Any]:
    g = ctx.keys.glob
    rows = daily(ctx, window, g.day)
    days = [stamp(d) for d, _ in rows]
    tests_all_time = int(ctx.client.hget(g.totals, "test_reports") or 0)
    if not days:
        return {"hosts_losing_service_now": [], "devices_failing_now": 0, "devices_at_risk": 0,
                **_doc(ctx, 0, 0, 0, 0, [], [], {}),
                "test_reports": 0,
                "test_reports_all_time": tests_all_time}
    reports, fields = windowed(rows, window)
    with ctx.client.pipeline(transaction=False) as pipe:
        pfcount(pipe, *[g.devices_day(d) for d in days])
        (devices,) = pipe.execute()
    nhosts, hosts = rankings.union_top(ctx, HOSTS, days, top)
    nchains, chains = rankings.union_top(ctx, CHAINS, days, top)
    top_hosts = [(text(m), int(n)) for m, n in hosts]
    top_chains = [(text(m), int(n)) for m, n in chains]
    classes = {k[1:]: v for k, v in fields.items() if k[0] == "k"}
    losing = sorted(rankings.union_rows(ctx, HOSTS_FAILING, days), key=lambda p: (-p[1], p[0]))
    return {**_losing(ctx, losing, days),
            **_doc(ctx, reports, nhosts, nchains, devices, top_hosts, top_chains,
                   classes),
            "test_reports": sum(row.get("test_reports", 0) for _, row in rows),
            "test_reports_all_time": tests_all_time}


def _losing(ctx: ReadContext, failing: list[tuple[str, int]], days: list[str]) \
        -> dict[str, Any]:
    """Hosts losing service now with their failing devices, and the devices summed over hosts
    (at risk too); all-time without ``days``, else over those days' buckets."""
    with ctx.client.pipeline(transaction=False) as pipe:
        for hostname, _ in failing:
            hk = ctx.keys.host(hostname)
            pfcount(pipe, *([hk.failing_day(d) for d in days] if days else [hk.failing]))
        devices = pipe.execute()
    listed = [{"hostname": h, "reports": n, "devices": d}
              for (h, n), d in zip(failing, devices, strict=True)]
    return {
        "hosts_losing_service_now": listed[:LOSING_LISTED],
        "devices_failing_now": sum(devices),
        "devices_at_risk": _at_risk(ctx, days),
    }


def _at_risk(ctx: ReadContext, days: list[str]) -> int:
    """At-risk devices summed over the hosts with at-risk reports (all-time, or on ``days``)."""
    if days:
        hosts = [text(h) for h, _ in rankings.union_raw(ctx, HOSTS_BREAKING, days)]
    else:
        hosts = [h for h, _ in rankings.top(ctx, HOSTS_BREAKING, -1)]
    with ctx.client.pipeline(transaction=False) as pipe:
        for hostname in hosts:
            hk = ctx.keys.host(hostname)
            pfcount(pipe, *([hk.breaking_day(d) for d in days] if days else [hk.breaking]))
        return sum(pipe.execute())


def _doc(ctx: ReadContext, reports: int, hosts: int, chains: int, devices: int,
         top_hosts: list[tuple[str, int]], top_chains: list[tuple[str, int]],
         classes: dict[str, int]) -> dict[str, Any]:
    meta = chain_classes(ctx, [fp for fp, _ in top_chains])
    return {
        "reports": reports, "hosts": hosts, "chains": chains, "devices": devices,
        "top_hosts": [{"hostname": h, "reports": n} for h, n in top_hosts],
        "top_chains": [{"fingerprint": fp, "reports": n,
                        "classification": meta[fp][0], "label": meta[fp][1]}
                       for fp, n in top_chains],
        "by_classification": classes,
    }
