"""The host list filtered by class: hosts holding at least one (host, chain) pair that shows a
given classification (the dashboard's hosts page, ``?classification=``).

No ranking is kept per class, so a filtered page scans the host ranking the unfiltered list
pages (``hosts.host_ranking``) in batches, at most ``SCAN_BUDGET`` hosts per request (for a
product class ``SCAN_BUDGET_PRODUCTS``), as the class-filtered chain list does: a page may
hold fewer than ``limit`` hosts (even none) while more follow, and its cursor is the offset
reached in the ranking. A host's classes are those of the chains it holds (its ``chains``
ranking, ``other`` aside), whatever the window: the window decides which hosts are listed
and their figures, as in the unfiltered list.
"""

from __future__ import annotations

from typing import Any

from collector.aggregates.read import rankings
from collector.aggregates.read.chain_classes import chain_classes, pair_shown
from collector.aggregates.read.context import ReadContext
from collector.aggregates.read.hosts import host_items, host_ranking
from collector.aggregates.read.replies import OTHER, text
from collector.aggregates.read.windows import Window
from collector.intel.classify import INTERCEPTION_TOOL, TLS_INSPECTION

SCAN_BATCH = 250
SCAN_BUDGET = 250
"""Ranked hosts one page filtered by public-trust or unknown may look at (a read per (host,
chain) pair): the page stays within the dashboard's time budget at 10 k hosts; the next page
goes on from there."""
SCAN_BUDGET_PRODUCTS = 500
"""The same for interception-tool and tls-inspection, settled by the chains' own classes (a
read per host)."""
PRODUCTS = frozenset({INTERCEPTION_TOOL, TLS_INSPECTION})


def host_classes(ctx: ReadContext, hostnames: list[str], wanted: str | None = None) \
        -> dict[str, set[str]]:
    """The classes each host's pairs show (recomputed where stale).

    A product class (interception-tool, tls-inspection) is decided by the chain's issuer
    alone, before anything host-specific (``Classifier.classify`` and ``classify_chain`` both
    try the products first), so a pair shows it exactly when its chain's own class is that
    product: the chains' classes (one read per distinct chain) settle those pairs. Only the
    other pairs, public-trust or unknown by whether the leaf covers the host, are read one by
    one, and only when they could show ``wanted`` (None: whatever it is)."""
    with ctx.client.pipeline(transaction=False) as pipe:
        for hostname in hostnames:
            pipe.zrange(ctx.keys.host(hostname).chains, 0, -1)
        chains = pipe.execute()
    held = [(h, text(fp)) for h, fps in zip(hostnames, chains, strict=True) for fp in fps
            if text(fp) != OTHER]
    own = chain_classes(ctx, list(dict.fromkeys(fp for _, fp in held)))
    out: dict[str, set[str]] = {h: set() for h in hostnames}
    pending = []
    for hostname, fp in held:
        if own[fp][0] in PRODUCTS:
            out[hostname].add(own[fp][0])
        elif wanted is None or wanted not in PRODUCTS:
            pending.append((hostname, fp))
    for (owner, _fp), (cls, _label) in (pair_shown(ctx, pending) if pending else {}).items():
        if owner is not None:
            out[owner].add(cls)
    return out


def hosts_of_class(ctx: ReadContext, window: Window, sort: str, classification: str,
                   offset: int, limit: int) -> tuple[list[dict[str, Any]], int | None]:
    """Up to ``limit`` hosts showing ``classification`` from ranking offset ``offset`` on, as
    ``hosts_page`` items, and the offset the next page starts at (None on the last)."""
    page: list[tuple[str, int]] = []
    days: list[str] = []
    pos = offset
    after: int | None = None
    budget = SCAN_BUDGET_PRODUCTS if classification in PRODUCTS else SCAN_BUDGET
    # without a window, one merge of the shards' rankings serves every batch of the scan
    merged = None if window.bounded else \
        rankings.Merged(ctx, rankings.HOSTS if sort == "reports" else rankings.HOSTS_LAST)
    while pos - offset < budget:
        n = min(SCAN_BATCH, offset + budget - pos)
        if merged is None:
            batch, days, more = host_ranking(ctx, window, sort, pos, n)
        else:
            rows = merged.fetch(pos, n + 1)
            batch, more = rows[:n], len(rows) > n
        found = host_classes(ctx, [h for h, _ in batch], classification) if batch else {}
        for i, (hostname, score) in enumerate(batch):
            if classification not in found[hostname]:
                continue
            if len(page) == limit:
                return host_items(ctx, window, sort, page, days), pos + i
            page.append((hostname, score))
        pos += len(batch)
        if not batch or not more:
            break
    else:
        after = pos
    return host_items(ctx, window, sort, page, days), after
