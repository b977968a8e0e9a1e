"""Chains read back: the chain list (filtered by class and host) and view, their certificates,
the pins that would pass, and a host's recommended pin set.

Two classes exist (SPEC §6, ``read.classes``): the chain's own, by issuer, and each (host,
chain) pair's. The view shows the chain's at the top and the pair's for each of its hosts; the
list shows the chain's, or the pair's when filtered by host. A stored class older than the
reader's classifier is never shown: ``read.classes`` recomputes it.

Nothing new is stored for pin advice: a chain's pins are derived from the certificates the
store already keeps once per fingerprint (``P:{g}:cert:CERT``). Certificates are
content-addressed, so what is derived from one never goes stale and is cached per process.

Filtering a ranking by class cannot be done in Redis, so a filtered page scans the ranking in
batches, at most ``SCAN_BUDGET`` members per request; its cursor is the offset reached in the
ranking. A filtered page may therefore hold fewer than ``limit`` items (even none) while more
follow: ``next_cursor`` says so.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from collector.aggregates.read.classes import (
    Shown,
    Stored,
    Subject,
    chain_level_classes,
    classes_of_pairs,
)
from collector.aggregates.read.context import ReadContext
from collector.aggregates.read.replies import iso, ranked, rfc3339, text
from collector.aggregates.read.spans import Span, covers, span
from collector.aggregates.read.windows import Window, daily, stamp, window_days
from collector.intake.chains import ChainError, der_to_pem, load_der, self_issued, spki_pin
from collector.intel.advice import normalize_pin, pins_that_would_pass
from collector.intel.classify import PUBLIC_TRUST, Classification
from collector.intel.recommend import ChainSeen, KeySeen, PinSets, chain_seen, recommended_pins

ChainClass = tuple[str, str | None, list[str]]
"""A chain's classification, label and certificate hashes."""

OTHER = "other"
SCAN_BATCH = 250
SCAN_BUDGET = 2500
"""Ranking members one filtered page may look at (ten batches)."""

_CACHE_SIZE = 8192
_info: OrderedDict[str, tuple[str, bool]] = OrderedDict()
_paths: OrderedDict[tuple[str, str, str], Classification] = OrderedDict()
_lock = threading.Lock()

Ranked = list[tuple[str, int]]


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


def _cert_list(raw: Any) -> list[str]:
    return [c for c in text(raw or b"").split(",") if c]


def _int(value: Any) -> int | None:
    return int(value) if value not in (None, b"", "") and text(value).isdigit() else None


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
    return {fp: (*shown[fp], _cert_list(r[4])) for fp, r in zip(fps, rows, strict=True)}


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


# -- pair classes ------------------------------------------------------------------------------
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


# -- the chain view ----------------------------------------------------------------------------
def chain_doc(ctx: ReadContext, fp: str, window: Window) -> dict[str, Any] | None:
    """The chain view: its record, its hosts with each pair's class, parsed certificates.

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
            pipe.zscore(g.day_chains(d), fp)
        if stamps:
            pipe.zunion([g.chain_hosts_day(fp, d) for d in stamps], withscores=True)
        meta_raw, hosts, *days_raw = pipe.execute()
    if not meta_raw:
        return None
    meta = {text(k): text(v) for k, v in meta_raw.items()}
    first_ms, last_ms = _int(meta.get("first_seen")), _int(meta.get("last_seen"))
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
    certs = _cert_list(meta.get("certs"))
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
    named = sorted(((h, n) for h, n in host_counts if h != OTHER), key=lambda p: (-p[1], p[0]))
    other = sum(n for h, n in host_counts if h == OTHER)
    shown = pair_shown(ctx, [(h, fp) for h, _ in named], {fp: (
        meta.get("classification"), meta.get("label"), meta.get("cv"), meta.get("last_seen"))})
    cls, label = shown[None, fp]
    port = meta.get("port")
    return {
        "fingerprint": fp,
        "reports": reports,
        "first_seen": iso(first_ms),
        "last_seen": iso(last_ms),
        "classification": cls,
        "label": label,
        "port": int(port) if port and port.isdigit() else None,
        "hosts": [{"hostname": h, "reports": n, "classification": shown[h, fp][0],
                   "label": shown[h, fp][1]} for h, n in named],
        "more_hosts": {"reports": other} if other else None,
        "certificates": docs,
        "pins_that_would_pass": would_pass(certs, info) if cls == PUBLIC_TRUST else [],
    }


# -- the chain list ----------------------------------------------------------------------------
def _global_ranking(ctx: ReadContext, window: Window) -> Callable[[int, int], Ranked]:
    """``fetch(start, count)`` over the global chain ranking, or the window's union of days."""
    g = ctx.keys.glob
    if not window.bounded:
        return lambda start, count: list(ranked(
            ctx.client.zrevrange(g.chains, start, start + count - 1, withscores=True)))
    days = [stamp(d) for d in window_days(ctx, window)]
    union = sorted(ranked(ctx.client.zunion([g.day_chains(d) for d in days], withscores=True)),
                   key=lambda p: (-p[1], p[0])) if days else []
    return lambda start, count: union[start:start + count]


def _host_ranking(ctx: ReadContext, hostname: str, window: Window) -> Ranked:
    """The host's chains by reports on it (day resolution under a window), ``other`` left out."""
    hk = ctx.keys.host(hostname)
    if window.bounded:
        counts = span(daily(ctx, window, hk.day), window).pick("c")
    else:
        counts = dict(ranked(ctx.client.zrevrange(hk.chains, 0, -1, withscores=True)))
    return sorted(((fp, n) for fp, n in counts.items() if fp != OTHER and n > 0),
                  key=lambda p: (-p[1], p[0]))


def chains_page(ctx: ReadContext, window: Window, offset: int, limit: int, *,
                classification: str | None = None, hostname: str | None = None) \
        -> tuple[list[dict[str, Any]], int | None]:
    """One page of chains by reports, and the ranking offset the next page starts at (None on
    the last page). With ``hostname``: that host's chains, with the pair's figures and class.
    With ``classification``: only chains showing that class (scanned, see the module doc)."""
    fetch: Callable[[int, int], Ranked]
    if hostname is not None:
        whole = _host_ranking(ctx, hostname, window)

        def fetch(start: int, count: int) -> Ranked:
            return whole[start:start + count]

        def classes(fps: list[str]) -> dict[str, Shown]:
            found = pair_shown(ctx, [(hostname, fp) for fp in fps])
            return {fp: found[hostname, fp] for fp in fps}
    else:
        fetch = _global_ranking(ctx, window)

        def classes(fps: list[str]) -> dict[str, Shown]:
            return {fp: (c[0], c[1]) for fp, c in chain_classes(ctx, fps).items()}

    if classification is None:
        rows = fetch(offset, limit + 1)
        page = rows[:limit]
        shown = classes([fp for fp, _ in page])
        after = offset + limit if len(rows) > limit else None
    else:
        page, shown, after = _scan(fetch, classes, classification, offset, limit)
    if hostname is not None:
        return _host_items(ctx, hostname, window, page, shown), after
    return _items(ctx, window, page, shown), after


def _scan(fetch: Callable[[int, int], Ranked], classes: Callable[[list[str]], dict[str, Shown]],
          classification: str, offset: int, limit: int) \
        -> tuple[Ranked, dict[str, Shown], int | None]:
    """Up to ``limit`` members showing ``classification`` from ``offset`` on, their classes,
    and where the next page starts; at most SCAN_BUDGET members are looked at."""
    page: Ranked = []
    shown: dict[str, Shown] = {}
    pos = offset
    while pos - offset < SCAN_BUDGET:
        batch = fetch(pos, min(SCAN_BATCH, offset + SCAN_BUDGET - pos))
        if not batch:
            return page, shown, None
        found = classes([fp for fp, _ in batch])
        for i, (fp, score) in enumerate(batch):
            if found[fp][0] != classification:
                continue
            if len(page) == limit:
                return page, shown, pos + i
            page.append((fp, score))
            shown[fp] = found[fp]
        pos += len(batch)
    return page, shown, pos


def _window_spans(ctx: ReadContext, window: Window, day_key: Callable[[str], Callable[[str], str]],
                  ids: list[str]) -> dict[str, Span]:
    """Each id's sums over the window's days of its daily buckets (one pipeline)."""
    days = window_days(ctx, window)
    if not ids or not days:
        return {i: span([], window) for i in ids}
    with ctx.client.pipeline(transaction=False) as pipe:
        for i in ids:
            key = day_key(i)
            for d in days:
                pipe.hgetall(key(stamp(d)))
        raw = pipe.execute()
    out = {}
    for n, i in enumerate(ids):
        rows = [(day, {text(k): int(v) for k, v in row.items()})
                for day, row in zip(days, raw[n * len(days):(n + 1) * len(days)], strict=True)]
        out[i] = span(rows, window)
    return out


def _host_counts(ctx: ReadContext, window: Window, fps: list[str],
                 covered: dict[str, bool]) -> dict[str, int]:
    """Hosts each chain was reported for in the window (``other`` left out)."""
    g = ctx.keys.glob
    stamps = [stamp(d) for d in window_days(ctx, window)] if window.bounded else []
    whole = [fp for fp in fps if covered[fp] or not stamps]
    part = [fp for fp in fps if fp not in whole]
    with ctx.client.pipeline(transaction=False) as pipe:
        for fp in whole:
            pipe.zcard(g.chain_hosts(fp))
            pipe.zscore(g.chain_hosts(fp), OTHER)
        for fp in part:
            pipe.zunion([g.chain_hosts_day(fp, d) for d in stamps])
        raw = pipe.execute()
    out = {fp: int(raw[2 * i]) - (0 if raw[2 * i + 1] is None else 1)
           for i, fp in enumerate(whole)}
    for fp, members in zip(part, raw[2 * len(whole):], strict=True):
        out[fp] = sum(1 for h in members if text(h) != OTHER)
    return out


def _items(ctx: ReadContext, window: Window, page: Ranked, shown: dict[str, Shown]) \
        -> list[dict[str, Any]]:
    g = ctx.keys.glob
    fps = [fp for fp, _ in page]
    with ctx.client.pipeline(transaction=False) as pipe:
        for fp in fps:
            pipe.hmget(g.chain(fp), "first_seen", "last_seen")
        seen = {fp: (_int(a), _int(b)) for fp, (a, b) in zip(fps, pipe.execute(), strict=True)}
    covered = {fp: covers(window, *seen[fp]) for fp in fps}
    if window.bounded:
        spans = _window_spans(ctx, window, lambda fp: lambda d: g.chain_day(fp, d),
                              [fp for fp in fps if not covered[fp]])
        for fp, s in spans.items():
            if s.days:  # chains written before daily chain buckets keep their all-time bounds
                seen[fp] = (s.first_ms, s.last_ms)
    hosts = _host_counts(ctx, window, fps, covered)
    return [{"fingerprint": fp, "reports": score, "hosts": hosts[fp],
             "classification": shown[fp][0], "label": shown[fp][1],
             "first_seen": iso(seen[fp][0]), "last_seen": iso(seen[fp][1])}
            for fp, score in page]


def _host_items(ctx: ReadContext, hostname: str, window: Window, page: Ranked,
                shown: dict[str, Shown]) -> list[dict[str, Any]]:
    """Items of a host's chains: the pair's reports, class and first/last seen."""
    hk = ctx.keys.host(hostname)
    fps = [fp for fp, _ in page]
    g = ctx.keys.glob
    with ctx.client.pipeline(transaction=False) as pipe:
        for fp in fps:
            pipe.hmget(hk.pair(fp), "first_seen", "last_seen")
            pipe.hmget(g.chain(fp), "first_seen", "last_seen")
        raw = pipe.execute()
    seen, chain_seen_ms = {}, {}
    for i, fp in enumerate(fps):
        pair, chain = raw[2 * i:2 * i + 2]
        chain_seen_ms[fp] = (_int(chain[0]), _int(chain[1]))
        seen[fp] = (_int(pair[0]), _int(pair[1])) if pair[0] is not None else chain_seen_ms[fp]
    if window.bounded:
        spans = _window_spans(ctx, window, lambda fp: lambda d: hk.pair_day(fp, d),
                              [fp for fp in fps if not covers(window, *seen[fp])])
        for fp, s in spans.items():
            if s.days:
                seen[fp] = (s.first_ms, s.last_ms)
    hosts = _host_counts(ctx, window, fps,
                         {fp: covers(window, *chain_seen_ms[fp]) for fp in fps})
    return [{"fingerprint": fp, "reports": score, "hosts": hosts[fp],
             "classification": shown[fp][0], "label": shown[fp][1],
             "first_seen": iso(seen[fp][0]), "last_seen": iso(seen[fp][1])}
            for fp, score in page]


# -- recommended pins --------------------------------------------------------------------------
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
    certs = {fp: _cert_list(row[0]) for fp, row in rows.items()}
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
            found = _verified(ctx, fp, hostname, chain_ders, _int(rows[fp][1])) \
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
