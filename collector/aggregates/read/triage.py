"""Triage state as the views show it: each chain entry's ``triage``, read in one pipeline.

A (host, chain) pair shows its own record or that of an issuer (a CA key, by SPKI pin, of any
certificate in the chain). Ignored wins: a pair is ignored when it or one of its issuers is
(the same rule as ``alerts.triage.is_ignored``); otherwise the pair's own record, else an
acknowledged issuer, else ``open`` with nothing recorded. Pins come from the certificates
already stored (``read.certificates``, cached per process), so nothing new is stored per chain.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from collector.aggregates.read.certificates import cert_info
from collector.aggregates.read.context import ReadContext
from collector.aggregates.read.replies import iso, text

OPEN, ACKNOWLEDGED, IGNORED = "open", "acknowledged", "ignored"
STATES = (OPEN, ACKNOWLEDGED, IGNORED)
NOTE_MAX = 500

Entry = tuple[str | None, str, Sequence[str]]
"""(hostname or None for the chain alone, FP, the chain's certificate hashes)."""


def open_doc() -> dict[str, Any]:
    return {"state": OPEN, "note": None, "by": None, "at": None, "via": None, "pin": None}


def record_doc(raw: dict[Any, Any], via: str) -> dict[str, Any] | None:
    """A stored pair or issuer hash as a ``triage`` document (None when there is none)."""
    rec = {text(k): text(v) for k, v in raw.items()}
    if rec.get("state") not in STATES:
        return None
    return {"state": rec["state"], "note": rec.get("note") or None, "by": rec.get("by") or None,
            "at": iso(rec.get("at")), "via": via,
            "pin": rec.get("pin") if via == "issuer" else None}


def shown(pair: dict[str, Any] | None, issuers: Iterable[dict[str, Any] | None]) \
        -> dict[str, Any]:
    """The state one entry shows, from its pair record and its issuers' records."""
    found = [i for i in issuers if i is not None]
    if pair is not None and pair["state"] == IGNORED:
        return pair
    for rec in found:
        if rec["state"] == IGNORED:
            return rec
    if pair is not None:
        return pair
    for rec in found:
        if rec["state"] == ACKNOWLEDGED:
            return rec
    return open_doc()


def triage_of(ctx: ReadContext, entries: Sequence[Entry]) -> dict[tuple[str | None, str],
                                                                   dict[str, Any]]:
    """Each entry's ``triage``: cached certificate pins, then one pipeline of records."""
    if not entries:
        return {}
    info = cert_info(ctx, [c for _, _, certs in entries for c in certs])
    pins = {(h, fp): list(dict.fromkeys(info[c][0] for c in certs if c in info))
            for h, fp, certs in entries}
    distinct = list(dict.fromkeys(p for found in pins.values() for p in found))
    pairs: list[tuple[str, str]] = [(h, fp) for h, fp, _ in entries if h is not None]
    tk = ctx.keys.triage
    with ctx.client.pipeline(transaction=False) as pipe:
        for h, fp in pairs:
            pipe.hgetall(tk.pair(h, fp))
        for pin in distinct:
            pipe.hgetall(tk.issuer(pin))
        raw = pipe.execute() if pairs or distinct else []
    pair_docs: dict[tuple[str | None, str], dict[str, Any] | None] = {
        key: record_doc(r, "pair") for key, r in zip(pairs, raw, strict=False)}
    issuer_docs = {pin: record_doc(r, "issuer")
                   for pin, r in zip(distinct, raw[len(pairs):], strict=True)}
    return {(h, fp): shown(pair_docs.get((h, fp)), [issuer_docs[p] for p in pins[h, fp]])
            for h, fp, _ in entries}
