"""The classes chains and (host, chain) pairs show, read from their records.

Two classes exist (SPEC §6, ``read.classes``): the chain's own, by issuer, and each (host,
chain) pair's. A stored class older than the reader's classifier is never shown:
``read.classes`` recomputes it.
"""

from __future__ import annotations

from collector.aggregates.read.certificates import cert_list
from collector.aggregates.read.classes import (
    Shown,
    Stored,
    Subject,
    chain_level_classes,
    classes_of_pairs,
)
from collector.aggregates.read.context import ReadContext

ChainClass = tuple[str, str | None, list[str]]
"""A chain's classification, label and certificate hashes."""


def chain_classes(ctx: ReadContext, fps: list[str]) -> dict[str, ChainClass]:
    """Each chain's own class and label (recomputed when stale) and certificate hashes."""
    if not fps:
        return {}
    g = ctx.keys.glob
    with ctx.client.pipeline(transaction=False) as pipe:
        for fp in fps:
            pipe.hmget(g.chain(fp), "classification", "label", "cv", "last_seen", "certs")
        rows = pipe.execute()
    shown = chain_level_classes(ctx, {fp: (r[0], r[1], r[2], r[3])
                                      for fp, r in zip(fps, rows, strict=True)})
    return {fp: (*shown[fp], cert_list(r[4])) for fp, r in zip(fps, rows, strict=True)}


def _pair_stored(ctx: ReadContext, pairs: list[tuple[str, str]]) -> dict[Subject, Stored]:
    """(class, label, cv, last_seen) of each (hostname, fp) pair; a pair without a record of
    its own (folded into ``other``, or written before pairs existed) gets no ``cv``, so its
    class is computed from the chain's certificates."""
    g = ctx.keys.glob
    with ctx.client.pipeline(transaction=False) as pipe:
        for hostname, fp in pairs:
            pipe.hmget(ctx.keys.host(hostname).pair(fp), "class", "label", "cv", "last_seen")
        for fp in dict.fromkeys(fp for _, fp in pairs):
            pipe.hget(g.chain(fp), "last_seen")
        replies = pipe.execute()
    last = dict(zip(dict.fromkeys(fp for _, fp in pairs), replies[len(pairs):], strict=True))
    out: dict[Subject, Stored] = {}
    for (hostname, fp), row in zip(pairs, replies[:len(pairs)], strict=True):
        out[hostname, fp] = (row[0], row[1], row[2], row[3]) if row[0] is not None \
            else (None, None, None, last[fp])
    return out


def pair_shown(ctx: ReadContext, pairs: list[tuple[str, str]],
               chains: dict[str, Stored] | None = None) -> dict[Subject, Shown]:
    """The class each (hostname, fp) pair shows, recomputed where stale or missing, and the
    own class of each chain in ``chains`` (under (None, fp)): one certificate read for all."""
    stored = _pair_stored(ctx, pairs) if pairs else {}
    for fp, row in (chains or {}).items():
        stored[None, fp] = row
    return classes_of_pairs(ctx, stored) if stored else {}
