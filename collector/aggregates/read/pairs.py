"""A host's chains as the host view lists them: one entry per (host, chain) pair.

Each pair has its own record under the host's hash tag (reports, devices, first/last seen,
enforcement, apps, class) and daily buckets, so every figure of an entry honours a window.
The class shown is the pair's (``read.classes``: recomputed when stored by an older classifier).
Pair-level losing-service figures follow from the class shown and the pair's enforcement counts:
reports from enforcing clients on a public-trust pair fail now, report-only ones are at risk.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from collector.aggregates.keys import HostKeys
from collector.aggregates.read.certificates import cert_info, would_pass
from collector.aggregates.read.classes import Shown, Stored, pair_classes
from collector.aggregates.read.context import ReadContext
from collector.aggregates.read.replies import iso, pfcount, ranked, text
from collector.aggregates.read.spans import Span, span
from collector.aggregates.read.windows import DailyRows, Window, stamp
from collector.intel.classify import PUBLIC_TRUST

ENFORCE = ("enforced", "report_only", "unknown")
OTHER = "other"


@dataclass(frozen=True)
class Pair:
    """What the view needs of one pair before it becomes an entry."""

    fp: str
    reports: int
    devices: int
    first_ms: int | None
    last_ms: int | None
    enforcement: dict[str, int]
    apps: list[tuple[str, int]]
    shown: Shown
    certs: list[str]


def app_doc(key: str, reports: int) -> dict[str, Any]:
    """An APPKEY (JSON ``[app_id, version, platform]``) or the overflow ``other`` as a dict."""
    if key == OTHER:
        return {"app_id": OTHER, "app_version": None, "platform": None, "reports": reports}
    app_id, version, platform = json.loads(key)
    return {"app_id": app_id or None, "app_version": version or None,
            "platform": platform or None, "reports": reports}


def _int(value: Any) -> int | None:
    return int(value) if value not in (None, b"", "") else None


def _certs(raw: Any) -> list[str]:
    return [c for c in text(raw or b"").split(",") if c]


def read_pairs(ctx: ReadContext, hk: HostKeys, hostname: str, scores: Mapping[str, int],
               window: Window, host_rows: DailyRows) -> list[Pair]:
    """The pairs of the host's chains (``scores``: the ``chains`` members but ``other``, with
    their all-time reports) that have reports in the window (all of them without one)."""
    fps = list(scores)
    if not fps:
        return []
    g = ctx.keys.glob
    with ctx.client.pipeline(transaction=False) as pipe:
        for fp in fps:
            pipe.hgetall(hk.pair(fp))
            pipe.hmget(g.chain(fp), "classification", "label", "cv", "last_seen", "certs")
            if not window.bounded:
                pfcount(pipe, hk.pair_devices(fp))
                pipe.zrevrange(hk.pair_apps(fp), 0, -1, withscores=True)
        raw = pipe.execute()
    per = 2 if window.bounded else 4
    metas = {fp: {text(k): text(v) for k, v in raw[per * i].items()} for i, fp in enumerate(fps)}
    chains = {fp: raw[per * i + 1] for i, fp in enumerate(fps)}
    stored: dict[str, Stored] = {}
    for fp, meta in metas.items():
        if "class" in meta:
            stored[fp] = (meta["class"], meta.get("label"), meta.get("cv"), meta.get("last_seen"))
        else:  # no pair record (written before pairs existed): decide from the chain's data
            stored[fp] = (chains[fp][0], chains[fp][1], None, chains[fp][3])
    shown = pair_classes(ctx, hostname, stored)
    if window.bounded:
        return [Pair(fp, s.reports, devices, s.first_ms, s.last_ms,
                     {k: s.fields.get("e" + k, 0) for k in ENFORCE},
                     sorted(s.pick("a").items(), key=lambda p: (-p[1], p[0])),
                     shown[fp], _certs(chains[fp][4]))
                for fp, (s, devices) in _pair_spans(ctx, hk, fps, window, host_rows).items()]
    out = []
    for i, fp in enumerate(fps):
        meta, devices, apps = metas[fp], raw[per * i + 2], raw[per * i + 3]
        out.append(Pair(fp, scores[fp], devices,
                        _int(meta.get("first_seen")), _int(meta.get("last_seen")),
                        {k: int(meta.get(k, 0)) for k in ENFORCE}, list(ranked(apps)),
                        shown[fp], _certs(chains[fp][4])))
    return out


def _pair_spans(ctx: ReadContext, hk: HostKeys, fps: list[str], window: Window,
                host_rows: DailyRows) -> dict[str, tuple[Span, int]]:
    """Each pair's sums over the window and its distinct devices, reading only the days the
    host's own daily buckets say the chain had reports on."""
    wanted = [(fp, [(day, stamp(day)) for day, row in host_rows if row.get("c" + fp)])
              for fp in fps]
    wanted = [(fp, days) for fp, days in wanted if days]
    with ctx.client.pipeline(transaction=False) as pipe:
        for fp, days in wanted:
            for _, d in days:
                pipe.hgetall(hk.pair_day(fp, d))
        rows = iter(pipe.execute())
    spans: dict[str, Span] = {}
    for fp, days in wanted:
        daily = [(day, {text(k): int(v) for k, v in next(rows).items()}) for day, _ in days]
        found = span(daily, window)
        if found.reports:
            spans[fp] = found
    with ctx.client.pipeline(transaction=False) as pipe:
        for fp, s in spans.items():
            pfcount(pipe, *[hk.pair_devices_day(fp, d) for d in s.days])
        devices = pipe.execute()
    return {fp: (s, n) for (fp, s), n in zip(spans.items(), devices, strict=True)}


def public_cert_info(ctx: ReadContext, pairs: list[Pair]) -> dict[str, tuple[str, bool]]:
    """(SPKI pin, self-issued) of every certificate in the host's public-trust pairs."""
    public = [c for p in pairs if p.shown[0] == PUBLIC_TRUST for c in p.certs]
    return cert_info(ctx, public) if public else {}


def pair_doc(p: Pair, info: Mapping[str, tuple[str, bool]],
             host_failing: int, host_at_risk: int) -> dict[str, Any]:
    """One ``chains[]`` entry. Devices failing/at risk are exact when the pair's clients all
    enforce (or all report only) or it is the host's only public-trust pair; otherwise they
    are bounded by the pair's devices, its reports of that kind and the host's figure."""
    cls, label = p.shown
    public = cls == PUBLIC_TRUST
    failing = p.enforcement["enforced"] if public else 0
    at_risk = p.enforcement["report_only"] if public else 0
    return {
        "fingerprint": p.fp, "reports": p.reports, "classification": cls, "label": label,
        "devices": p.devices, "first_seen": iso(p.first_ms), "last_seen": iso(p.last_ms),
        "enforcement": dict(p.enforcement),
        "apps": [app_doc(k, n) for k, n in p.apps],
        "reports_failing_now": failing, "reports_at_risk": at_risk,
        "devices_failing_now": _devices(p, failing, host_failing),
        "devices_at_risk": _devices(p, at_risk, host_at_risk),
        "pins_that_would_pass": would_pass(p.certs, dict(info)) if public else [],
    }


def _devices(p: Pair, reports: int, host_devices: int) -> int:
    if reports == 0:
        return 0
    if reports >= p.reports:
        return p.devices
    return min(p.devices, reports, host_devices)
