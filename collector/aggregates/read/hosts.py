"""Hosts read back: the host list and the host view, with pin advice and hard-fail readiness."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

from collector.aggregates.keys import HostKeys
from collector.aggregates.read import rankings
from collector.aggregates.read.chains import ChainClass, cert_info, chain_classes, would_pass
from collector.aggregates.read.context import ReadContext
from collector.aggregates.read.replies import iso, pfcount, ranked, text
from collector.aggregates.read.windows import Window, daily, stamp, windowed
from collector.intel.advice import pin_set_advice
from collector.intel.classify import PUBLIC_TRUST

_ENFORCE = ("enforced", "report_only", "unknown")


def hosts_page(ctx: ReadContext, window: Window, sort: str, offset: int, limit: int) \
        -> tuple[list[dict[str, Any]], bool]:
    """One page of hosts by ``reports`` or ``last_seen``, and whether more follow."""
    g = ctx.keys.glob
    if sort == "last_seen" and window.bounded:
        page, days, more = rankings.page(ctx, g.hosts_last, g.day_hosts, window, 0, 10**9)
        lasts = ctx.client.zmscore(g.hosts_last, [h for h, _ in page]) if page else []
        order = sorted(zip(page, lasts, strict=True), key=lambda p: (-(p[1] or 0), p[0][0]))
        page = [p for p, _ in order][offset:offset + limit]
        more = len(order) > offset + limit
    else:
        page, days, more = rankings.page(ctx, g.hosts if sort == "reports" else g.hosts_last,
                                         g.day_hosts, window, offset, limit)
    with ctx.client.pipeline(transaction=False) as pipe:
        for hostname, _ in page:
            hk = ctx.keys.host(hostname)
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


def host_doc(ctx: ReadContext, hostname: str, window: Window) -> dict[str, Any] | None:
    """The host view: breakdowns, pin advice per pin set, and hard-fail readiness."""
    hk = ctx.keys.host(hostname)
    with ctx.client.pipeline(transaction=False) as pipe:
        pipe.hgetall(hk.meta)
        pfcount(pipe, hk.devices)
        pipe.zrevrange(hk.chains, 0, -1, withscores=True)
        pipe.zrevrange(hk.apps, 0, -1, withscores=True)
        pipe.hgetall(hk.results)
        pipe.hgetall(hk.enforce)
        pipe.zrevrange(hk.pinsets, 0, -1, withscores=True)
        pfcount(pipe, hk.breaking)
        pipe.zrevrange(hk.breaking_apps, 0, -1, withscores=True)
        meta, devices, chains, apps, results, enforce, pinsets, breaking, bapps = \
            pipe.execute()
    if not meta:
        return None
    meta = {text(k): text(v) for k, v in meta.items()}
    chain_counts = dict(ranked(chains))
    app_counts = dict(ranked(apps))
    result_counts = {text(k): int(v) for k, v in results.items()}
    enforce_counts = {text(k): int(v) for k, v in enforce.items()}
    pin_counts = dict(ranked(pinsets))
    reports = int(meta.get("reports", 0))
    if window.bounded:
        rows = daily(ctx, window, hk.day)
        reports, fields = windowed(rows, window)
        pick = {p: {k[1:]: v for k, v in fields.items() if k[0] == p} for p in "carep"}
        chain_counts, app_counts, pin_counts = pick["c"], pick["a"], pick["p"]
        result_counts, enforce_counts = pick["r"], pick["e"]
        days = [stamp(d) for d, _ in rows]
        devices = ctx.client.pfcount(*[hk.devices_day(d) for d in days]) if days else 0
    classes = chain_classes(ctx, [fp for fp in chain_counts if fp != "other"])
    public = [c for cls, _, certs in classes.values() if cls == PUBLIC_TRUST for c in certs]
    info = cert_info(ctx, public) if public else {}
    public_pins = {pin for pin, _ in info.values()}
    today = datetime.now(UTC).date()
    return {
        "hostname": meta.get("hostname", hostname),
        "reports": reports,
        "devices": devices,
        "first_seen": iso(meta.get("first_seen")),
        "last_seen": iso(meta.get("last_seen")),
        "chains": [_chain(fp, n, classes.get(fp), info)
                   for fp, n in sorted(chain_counts.items(), key=lambda p: -p[1])],
        "apps": [_app(k, n) for k, n in sorted(app_counts.items(), key=lambda p: -p[1])],
        "validation_results": result_counts,
        "enforcement": {name: enforce_counts.get(name, 0) for name in _ENFORCE},
        "pin_sets": [_pinset(k, n, public_pins, today)
                     for k, n in sorted(pin_counts.items(), key=lambda p: -p[1])],
        "flags": {k.removeprefix("flag:"): int(v) for k, v in meta.items()
                  if k.startswith("flag:")},
        "hard_fail_readiness": {
            "devices_at_risk": breaking,
            "by_app_version": _at_risk_versions(ctx, hk, list(ranked(bapps))),
        },
    }


def _at_risk_versions(ctx: ReadContext, hk: HostKeys, versions: list[tuple[str, int]]) \
        -> list[dict[str, Any]]:
    """Distinct at-risk devices per app version (``other`` has no HLL of its own)."""
    with ctx.client.pipeline(transaction=False) as pipe:
        for version, _ in versions:
            pfcount(pipe, hk.breaking_version(version))
        devices = pipe.execute()
    return [{"app_version": v, "reports": n, "devices": None if v == "other" else d}
            for (v, n), d in zip(versions, devices, strict=True)]


def _chain(fp: str, reports: int, meta: ChainClass | None,
           info: dict[str, tuple[str, bool]]) -> dict[str, Any]:
    cls, label, certs = meta or ("unknown", None, [])
    return {"fingerprint": fp, "reports": reports, "classification": cls, "label": label,
            "pins_that_would_pass": would_pass(certs, info) if cls == PUBLIC_TRUST else []}


def _app(key: str, reports: int) -> dict[str, Any]:
    if key == "other":
        return {"app_id": "other", "app_version": None, "platform": None, "reports": reports}
    app_id, version, platform = json.loads(key)
    return {"app_id": app_id or None, "app_version": version or None,
            "platform": platform or None, "reports": reports}


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
