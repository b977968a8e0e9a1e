"""The chain view: a chain's record, its hosts with each (host, chain) pair's class, its parsed
certificates and the pins that would let it pass.

The view shows the chain's own class (by issuer) at the top and the pair's for each of its
hosts (SPEC §6, ``read.chain_classes``).
"""

from __future__ import annotations

from typing import Any

from collector.aggregates.read.certificates import cert_doc, cert_list, remember, would_pass
from collector.aggregates.read.chain_classes import pair_shown
from collector.aggregates.read.context import ReadContext
from collector.aggregates.read.replies import OTHER, int_or_none, iso, ranked, text
from collector.aggregates.read.spans import covers, span
from collector.aggregates.read.triage import IGNORED, triage_of
from collector.aggregates.read.windows import Window, stamp, window_days
from collector.intake.chains import ChainError
from collector.intel.classify import PUBLIC_TRUST


def chain_doc(ctx: ReadContext, fp: str, window: Window,
              max_hosts: int | None = None) -> dict[str, Any] | None:
    """The chain view: its record, its hosts with each pair's class, parsed certificates.

    Each host carries the pair's ``triage`` state; hosts where the pair is ignored are listed
    apart (``ignored_hosts``) and still count in every figure. With ``max_hosts`` (the
    dashboard's chain page) only the most-reported hosts are classified and listed, and
    ``hosts_not_listed`` counts the rest.

    Every figure honours the window: reports at hour resolution (the chain's daily buckets),
    hosts at day resolution, first/last seen inside the window.
    """
    g = ctx.keys.glob
    days = window_days(ctx, window) if window.bounded else []
    stamps = [stamp(d) for d in days]
    with ctx.client.pipeline(transaction=False) as pipe:
        pipe.hgetall(g.chain(fp))
        pipe.zrevrange(g.chain_hosts(fp), 0, -1, withscores=True)
        for d in stamps:
            pipe.hgetall(g.chain_day(fp, d))
            pipe.zscore(g.of_chain(fp).day_chains(d), fp)
        if stamps:
            pipe.zunion([g.chain_hosts_day(fp, d) for d in stamps], withscores=True)
        meta_raw, hosts, *days_raw = pipe.execute()
    if not meta_raw:
        return None
    meta = {text(k): text(v) for k, v in meta_raw.items()}
    first_ms, last_ms = int_or_none(meta.get("first_seen")), int_or_none(meta.get("last_seen"))
    reports = int(meta.get("reports", 0))
    host_counts = list(ranked(hosts))
    if window.bounded and not covers(window, first_ms, last_ms):
        rows = [(day, {text(k): int(v) for k, v in days_raw[2 * i].items()})
                for i, day in enumerate(days)]
        s = span(rows, window)
        legacy = [(day, days_raw[2 * i + 1]) for i, (day, row) in enumerate(rows)
                  if not row and days_raw[2 * i + 1]]  # days written before chain buckets
        reports = s.reports + sum(int(score) for day, score in legacy
                                  if any(window.hour_in(day, h) for h in range(24)))
        first_ms, last_ms = s.first_ms, s.last_ms
        host_counts = list(ranked(days_raw[-1])) if stamps else []
    certs = cert_list(meta.get("certs"))
    with ctx.client.pipeline(transaction=False) as pipe:
        for c in certs:
            pipe.get(g.cert(c))
        ders = pipe.execute()
    docs, info = [], {}
    for c, der in zip(certs, ders, strict=True):
        if not der:
            continue  # expired separately: show what is left rather than fail the view
        try:
            docs.append(cert_doc(der))
        except ChainError:
            continue
        found = remember(c, der)
        if found is not None:
            info[c] = found
    named = sorted(((h, n) for h, n in host_counts if h != OTHER), key=lambda p: (-p[1], p[0]))
    other = sum(n for h, n in host_counts if h == OTHER)
    listed = named if max_hosts is None else named[:max_hosts]
    shown = pair_shown(ctx, [(h, fp) for h, _ in listed], {fp: (
        meta.get("classification"), meta.get("label"), meta.get("cv"), meta.get("last_seen"))})
    cls, label = shown[None, fp]
    states = triage_of(ctx, [(h, fp, certs) for h, _ in listed])
    hosts_doc: list[dict[str, Any]] = [
        {"hostname": h, "reports": n, "classification": shown[h, fp][0],
         "label": shown[h, fp][1], "triage": states[h, fp]} for h, n in listed]
    port = meta.get("port")
    limited = {} if max_hosts is None else {"hosts_not_listed": len(named) - len(listed)}
    return {
        **limited,
        "fingerprint": fp,
        "reports": reports,
        "first_seen": iso(first_ms),
        "last_seen": iso(last_ms),
        "classification": cls,
        "label": label,
        "port": int(port) if port and port.isdigit() else None,
        "hosts": [h for h in hosts_doc if h["triage"]["state"] != IGNORED],
        "ignored_hosts": [h for h in hosts_doc if h["triage"]["state"] == IGNORED],
        "more_hosts": {"reports": other} if other else None,
        "certificates": docs,
        "pins_that_would_pass": would_pass(certs, info) if cls == PUBLIC_TRUST else [],
    }
