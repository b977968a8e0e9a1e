"""Chains read back: the chain list and view, their certificates and the pins that would pass.

Nothing new is stored for pin advice: a chain's pins are derived from the certificates the
store already keeps once per fingerprint (``P:{g}:cert:CERT``). Certificates are
content-addressed, so what is derived from one never goes stale and is cached per process.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import Any

from collector.aggregates.read import rankings
from collector.aggregates.read.context import ReadContext
from collector.aggregates.read.replies import iso, ranked, rfc3339, text
from collector.aggregates.read.windows import Window, stamp, window_days
from collector.intake.chains import ChainError, der_to_pem, load_der, self_issued, spki_pin
from collector.intel.advice import pins_that_would_pass
from collector.intel.classify import PUBLIC_TRUST

ChainClass = tuple[str, str | None, list[str]]
"""A chain's classification, label and certificate hashes."""

_CACHE_SIZE = 8192
_info: OrderedDict[str, tuple[str, bool]] = OrderedDict()
_lock = threading.Lock()


def _remember(cert_hash: str, der: bytes) -> tuple[str, bool] | None:
    try:
        cert = load_der(der)
    except ChainError:
        return None
    found = (spki_pin(cert), self_issued(cert))
    with _lock:
        _info[cert_hash] = found
        if len(_info) > _CACHE_SIZE:
            _info.popitem(last=False)
    return found


def cert_info(ctx: ReadContext, cert_hashes: list[str]) -> dict[str, tuple[str, bool]]:
    """(SPKI pin, self-issued) per certificate hash; one pipeline for those not cached."""
    out: dict[str, tuple[str, bool]] = {}
    with _lock:
        for h in cert_hashes:
            if h in _info:
                out[h] = _info[h]
    missing = [h for h in dict.fromkeys(cert_hashes) if h not in out]
    if missing:
        with ctx.client.pipeline(transaction=False) as pipe:
            for h in missing:
                pipe.get(ctx.keys.glob.cert(h))
            ders = pipe.execute()
        for h, der in zip(missing, ders, strict=True):
            found = _remember(h, der) if der else None
            if found is not None:
                out[h] = found
    return out


def would_pass(certs: list[str], info: dict[str, tuple[str, bool]]) -> list[dict[str, str]]:
    """Pins that would have let this chain pass; the last one is a root when self-issued."""
    known = [h for h in certs if h in info]
    if not known:
        return []
    return pins_that_would_pass([info[h][0] for h in known], ends_at_root=info[known[-1]][1])


def chain_classes(ctx: ReadContext, fps: list[str]) -> dict[str, ChainClass]:
    """Classification, label and certificate hashes of each chain, in one pipeline."""
    if not fps:
        return {}
    g = ctx.keys.glob
    with ctx.client.pipeline(transaction=False) as pipe:
        for fp in fps:
            pipe.hmget(g.chain(fp), "classification", "label", "certs")
        rows = pipe.execute()
    out: dict[str, ChainClass] = {}
    for fp, (cls, label, certs) in zip(fps, rows, strict=True):
        out[fp] = (text(cls) if cls else "unknown", text(label) if label else None,
                   [c for c in text(certs or b"").split(",") if c])
    return out


def cert_doc(der: bytes) -> dict[str, Any]:
    cert = load_der(der)
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "serial": format(cert.serial_number, "x"),
        "not_before": rfc3339(cert.not_valid_before_utc),
        "not_after": rfc3339(cert.not_valid_after_utc),
        "sha256": hashlib.sha256(der).hexdigest(),
        "spki_sha256": spki_pin(cert),
        "pem": der_to_pem(der),
    }


def chains_page(ctx: ReadContext, window: Window, offset: int, limit: int) \
        -> tuple[list[dict[str, Any]], bool]:
    """One page of chains by reports, and whether more follow."""
    g = ctx.keys.glob
    page, _, more = rankings.page(ctx, g.chains, g.day_chains, window, offset, limit)
    with ctx.client.pipeline(transaction=False) as pipe:
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


def chain_doc(ctx: ReadContext, fp: str, window: Window) -> dict[str, Any] | None:
    """The chain view: its record, hosts and parsed certificates (two round trips)."""
    g = ctx.keys.glob
    days = [stamp(d) for d in window_days(ctx, window)] if window.bounded else []
    with ctx.client.pipeline(transaction=False) as pipe:
        pipe.hgetall(g.chain(fp))
        pipe.zrevrange(g.chain_hosts(fp), 0, -1, withscores=True)
        for day in days:
            pipe.zscore(g.day_chains(day), fp)
        meta_raw, hosts, *scores = pipe.execute()
    if not meta_raw:
        return None
    meta = {text(k): text(v) for k, v in meta_raw.items()}
    certs = [c for c in meta.get("certs", "").split(",") if c]
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
        found = _remember(c, der)
        if found is not None:
            info[c] = found
    cls = meta.get("classification") or "unknown"
    reports = int(meta.get("reports", 0))
    if window.bounded:
        reports = sum(int(s) for s in scores if s)
    port = meta.get("port")
    return {
        "fingerprint": fp,
        "reports": reports,
        "first_seen": iso(meta.get("first_seen")),
        "last_seen": iso(meta.get("last_seen")),
        "classification": cls,
        "label": meta.get("label") or None,
        "port": int(port) if port and port.isdigit() else None,
        "hosts": [{"hostname": h, "reports": n} for h, n in ranked(hosts)],
        "certificates": docs,
        "pins_that_would_pass": would_pass(certs, info) if cls == PUBLIC_TRUST else [],
    }
