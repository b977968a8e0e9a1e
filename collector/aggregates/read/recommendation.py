"""A host's recommended pin set (``intel.recommend``), from its chains as the host view
shows them.

Public-trust chains take the keys of their verified path, classified once per (chain, host,
classifier version) and cached per process; the others the keys of the certificates stored
for them.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from collector.aggregates.read.certificates import cert_info, cert_list
from collector.aggregates.read.context import ReadContext
from collector.aggregates.read.replies import OTHER, int_or_none
from collector.intake.chains import ChainError, load_der
from collector.intel.advice import normalize_pin
from collector.intel.classify import PUBLIC_TRUST, Classification
from collector.intel.recommend import ChainSeen, KeySeen, PinSets, chain_seen, recommended_pins

_CACHE_SIZE = 8192
_paths: OrderedDict[tuple[str, str, str], Classification] = OrderedDict()
_lock = threading.Lock()


def _verified(ctx: ReadContext, fp: str, hostname: str, ders: list[bytes],
              at_ms: int | None) -> Classification | None:
    """The pair's classification with its verified path (cached per fp, host, version)."""
    if ctx.classifier is None:
        return None
    key = (fp, hostname, ctx.classifier.version)
    with _lock:
        found = _paths.get(key)
    if found is None:
        try:
            certs = [load_der(d) for d in ders]
        except ChainError:
            return None
        at = datetime.fromtimestamp(at_ms / 1000, UTC) if at_ms else datetime.now(UTC)
        found = ctx.classifier.classify(certs, hostname, at)
        if found.kind != PUBLIC_TRUST and at_ms:  # as at intake: valid when received counts
            found = ctx.classifier.classify(certs, hostname, datetime.now(UTC))
        with _lock:
            _paths[key] = found
            if len(_paths) > _CACHE_SIZE:
                _paths.popitem(last=False)
    return found


def host_recommendation(ctx: ReadContext, hostname: str,
                        chains: Sequence[tuple[str, int, str]], pin_sets: PinSets) \
        -> dict[str, Any]:
    """The host's recommended pin set (``intel.recommend``) from its chains as the host view
    shows them: (fingerprint, reports, the pair's classification), ``other`` left out.

    Public-trust chains take the keys of their verified path (ending at the root even when the
    client left it out); the others the keys of the certificates stored for them.
    """
    fps = [fp for fp, _, _ in chains if fp != OTHER]
    g = ctx.keys.glob
    with ctx.client.pipeline(transaction=False) as pipe:
        for fp in fps:
            pipe.hmget(g.chain(fp), "certs", "last_seen")
        rows = dict(zip(fps, pipe.execute(), strict=True))
    certs = {fp: cert_list(row[0]) for fp, row in rows.items()}
    info = cert_info(ctx, [c for fp in fps for c in certs[fp]])
    shipped = {normalize_pin(p) for pins, _ in pin_sets for p in pins}
    public = {fp for fp, _, cls in chains if cls == PUBLIC_TRUST and fp in rows}
    if not public:  # the recommendation then needs the subjects of a chain clients pin
        public_or_pinned = {fp for fp in fps if shipped & {info[c][0] for c in certs[fp]
                                                           if c in info}}
    else:
        public_or_pinned = public
    wanted = list(dict.fromkeys(c for fp in public_or_pinned for c in certs[fp]))
    with ctx.client.pipeline(transaction=False) as pipe:
        for c in wanted:
            pipe.get(g.cert(c))
        ders = {c: d for c, d in zip(wanted, pipe.execute(), strict=True) if d}
    seen: list[ChainSeen] = []
    for fp, reports, cls in chains:
        if fp not in rows:
            continue
        is_public = cls == PUBLIC_TRUST
        chain_ders = [ders[c] for c in certs[fp] if c in ders]
        if fp in public_or_pinned and chain_ders and len(chain_ders) == len(certs[fp]):
            found = _verified(ctx, fp, hostname, chain_ders, int_or_none(rows[fp][1])) \
                if is_public else None
            try:
                x509s = [load_der(d) for d in chain_ders]
            except ChainError:
                x509s = []
            if x509s:
                if is_public and (found is None or found.kind != PUBLIC_TRUST):
                    found = Classification(PUBLIC_TRUST, None)  # no path now: keys as stored
                seen.append(chain_seen(fp, reports, x509s, found))
                continue
        keys = tuple(KeySeen(info[c][0]) for c in certs[fp] if c in info)
        seen.append(ChainSeen(fp, reports, is_public, keys))
    return recommended_pins(seen, pin_sets)
