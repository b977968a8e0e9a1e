"""Classes as the views show them: the stored one, or recomputed when the data behind it changed.

The writer stores each pair's (host, chain) class and each chain's issuer-level class together
with ``cv``, the version of the classifier that decided it (a digest of the public roots and the
products data). A view compares ``cv`` with its own classifier's version; when they differ the
stored class is never shown: the chain's certificates (kept once per fingerprint) are read back
and classified again, validity checked at the record's last-seen time. Results are cached per
process by (fingerprint, hostname, version), so a roots change costs each pair one
classification per process, not one per view.

A ReadContext built without a classifier (tools, old tests) shows the stored classes.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from cryptography import x509

from collector.aggregates.read.context import ReadContext
from collector.aggregates.read.replies import text
from collector.intake.chains import ChainError, load_der
from collector.intel.classify import UNKNOWN, Classification

Stored = tuple[Any, Any, Any, Any]
"""(class, label, cv, at_ms) as read from a pair or chain hash: bytes, str or None each."""

Shown = tuple[str, str | None]
"""(classification, label) as a view shows it."""

_CACHE_SIZE = 16384
_cache: OrderedDict[tuple[str, str, str], Shown] = OrderedDict()
_lock = threading.Lock()


def _decoded(value: Any) -> str | None:
    return text(value) if value not in (None, b"", "") else None


def _as_stored(row: Stored) -> Shown:
    cls, label = _decoded(row[0]), _decoded(row[1])
    return (cls or UNKNOWN, label)


def _version(ctx: ReadContext) -> str | None:
    return ctx.classifier.version if ctx.classifier is not None else None


def pair_classes(ctx: ReadContext, hostname: str, stored: Mapping[str, Stored]) \
        -> dict[str, Shown]:
    """The class of each (hostname, fp) pair, recomputed where the stored ``cv`` is stale."""
    found = classes_of_pairs(ctx, {(hostname, fp): row for fp, row in stored.items()})
    return {fp: found[(hostname, fp)] for fp in stored}


def chain_level_classes(ctx: ReadContext, stored: Mapping[str, Stored]) -> dict[str, Shown]:
    """The issuer-level class of each chain (no hostname check), recomputed where stale."""
    found = classes_of_pairs(ctx, {(None, fp): row for fp, row in stored.items()})
    return {fp: found[(None, fp)] for fp in stored}


Subject = tuple[str | None, str]
"""(hostname, fp) for a pair's class; (None, fp) for a chain's own class."""


def classes_of_pairs(ctx: ReadContext, stored: Mapping[Subject, Stored]) -> dict[Subject, Shown]:
    """Classes of any mix of pairs and chains, with one certificate read for all stale ones."""
    version = _version(ctx)
    out: dict[Subject, Shown] = {}
    stale: dict[Subject, Stored] = {}
    for subject, row in stored.items():
        if version is None or _decoded(row[2]) == version:
            out[subject] = _as_stored(row)
            continue
        with _lock:
            found = _cache.get((subject[1], subject[0] or "", version))
        if found is not None:
            out[subject] = found
        else:
            stale[subject] = row
    if stale:
        out.update(_recompute(ctx, stale))
    return out


def _recompute(ctx: ReadContext, stale: Mapping[Subject, Stored]) -> dict[Subject, Shown]:
    """Classify the stale ones again from their stored certificates (two round trips)."""
    assert ctx.classifier is not None
    classifier, version = ctx.classifier, ctx.classifier.version
    g = ctx.keys.glob
    fps = list(dict.fromkeys(fp for _, fp in stale))
    with ctx.client.pipeline(transaction=False) as pipe:
        for fp in fps:
            pipe.hget(g.chain(fp), "certs")
        cert_lists = {fp: [c for c in text(raw or b"").split(",") if c]
                      for fp, raw in zip(fps, pipe.execute(), strict=True)}
    wanted = list(dict.fromkeys(c for certs in cert_lists.values() for c in certs))
    with ctx.client.pipeline(transaction=False) as pipe:
        for c in wanted:
            pipe.get(g.cert(c))
        ders = dict(zip(wanted, pipe.execute(), strict=True))
    chains = {fp: _load([ders.get(c) for c in certs]) for fp, certs in cert_lists.items()}
    out: dict[Subject, Shown] = {}
    for subject, row in stale.items():
        hostname, fp = subject
        chain = chains[fp]
        if chain is None:  # certificates expired apart: nothing to decide on but the record
            out[subject] = _as_stored(row)
            continue
        at_ms = _decoded(row[3])
        at = datetime.fromtimestamp(int(at_ms) / 1000, UTC) if at_ms and at_ms.isdigit() \
            else datetime.now(UTC)
        found: Classification = classifier.classify(chain, hostname, at) \
            if hostname is not None else classifier.classify_chain(chain, at)
        out[subject] = (found.kind, found.label)
        with _lock:
            _cache[(fp, hostname or "", version)] = out[subject]
            if len(_cache) > _CACHE_SIZE:
                _cache.popitem(last=False)
    return out


def _load(ders: list[bytes | None]) -> list[x509.Certificate] | None:
    if not ders or any(d is None for d in ders):
        return None
    try:
        return [load_der(d) for d in ders if d is not None]
    except ChainError:
        return None
