"""The summary view: totals, the top hosts and chains, reports by classification."""

from __future__ import annotations

from typing import Any

from collector.aggregates.read.chains import chain_classes
from collector.aggregates.read.context import ReadContext
from collector.aggregates.read.replies import pfcount, ranked, text
from collector.aggregates.read.windows import Window, daily, stamp, windowed


def summary_doc(ctx: ReadContext, window: Window, top: int = 10) -> dict[str, Any]:
    """One pipeline on the running totals; with a window, the daily buckets it covers."""
    g = ctx.keys.glob
    if window.bounded:
        return _summary_window(ctx, window, top)
    with ctx.client.pipeline(transaction=False) as pipe:
        pipe.hget(g.totals, "reports")
        pipe.zcard(g.hosts)
        pipe.zcard(g.chains)
        pfcount(pipe, g.devices)
        pipe.zrevrange(g.hosts, 0, top - 1, withscores=True)
        pipe.zrevrange(g.chains, 0, top - 1, withscores=True)
        pipe.hgetall(g.classes)
        reports, hosts, chains, devices, top_hosts, top_chains, classes = pipe.execute()
    return _doc(ctx, int(reports or 0), hosts, chains, devices,
                list(ranked(top_hosts)), list(ranked(top_chains)),
                {text(k): int(v) for k, v in classes.items()})


def _summary_window(ctx: ReadContext, window: Window, top: int) -> dict[str, Any]:
    g = ctx.keys.glob
    rows = daily(ctx, window, g.day)
    days = [stamp(d) for d, _ in rows]
    if not days:
        return _doc(ctx, 0, 0, 0, 0, [], [], {})
    reports, fields = windowed(rows, window)
    with ctx.client.pipeline(transaction=False) as pipe:
        pipe.zunion([g.day_hosts(d) for d in days], withscores=True)
        pipe.zunion([g.day_chains(d) for d in days], withscores=True)
        pfcount(pipe, *[g.devices_day(d) for d in days])
        hosts, chains, devices = pipe.execute()
    rank = sorted(ranked(hosts), key=lambda p: (-p[1], p[0]))
    crank = sorted(ranked(chains), key=lambda p: (-p[1], p[0]))
    classes = {k[1:]: v for k, v in fields.items() if k[0] == "k"}
    return _doc(ctx, reports, len(rank), len(crank), devices, rank[:top], crank[:top], classes)


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
