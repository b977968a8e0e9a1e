"""A batch merged before Redis: what each script of ``writer`` receives, already summed.

The scripts used to receive one argument per report and sum them in Lua: Redis CPU that grew
with the reports. Here a batch becomes, per slot, one increment per distinct counter (per
chain, app, day, hour, pin set...), each distinct device once per HyperLogLog, and each
inventory sketch's registers already computed; a script then does a few calls per key (read
the key's fields, which also checks its type, then write them in one call), whatever the
number of reports.

Exactly-once is unchanged: a script receives its slot's first and last sequence number and
applies everything or nothing (``writer.ReportStore`` resends only the new part in the rare
case a replay's batch straddles the slot's high-water mark). Order inside a batch matters only
where a script decides something: new members of a capped collection are offered in order of
first appearance (what one report per batch would give), an event is decided by the batch as
a whole (a pair with no reports before it is new; its class is the batch's latest report's).

A hash's updates are built as ``op + field -> value``: ``+`` add, ``<`` keep the minimum,
``>`` keep the maximum, ``=`` set, and ``A``/``P``/``C``/``F``/``B``/``Q`` + prefix + member
add to the field ``prefix + member`` of a member of a capped collection (apps, pin sets,
chains, failing apps, at-risk apps, the pair's apps), or to ``prefix + other`` when the
script counted the member as ``other``. They travel in columns (``_H.args``) that the
script reads in place, without parsing: Lua work per field is what costs Redis CPU.
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from collector.aggregates.keys import GlobalKeys, HostKeys, ShardKeys, shard_index
from collector.aggregates.read.sketch import M as SKETCH_M
from collector.aggregates.read.sketch import Q as SKETCH_Q
from collector.intake.report import TEST_REPORT, Report
from collector.intel.classify import PUBLIC_TRUST

REFRESH_MS = 3_600_000
"""A record's "R after last write" keys get their TTL again when a write comes in a later
hour (of report time) than the record's last one, and when they are created."""


@dataclass(frozen=True)
class Stamped:
    """A report with the writer id and sequence number that make its writes idempotent."""

    report: Report
    writer: str
    seq: int


# -- per-report values, cached: a batch repeats them ------------------------------------------
def app_key(report: Report) -> str:
    return _app_key(report.app_id, report.app_version, report.platform)


@functools.lru_cache(maxsize=1024)
def _app_key(app_id: str | None, version: str | None, platform: str | None) -> str:
    return json.dumps([app_id or "", version or "", platform or ""], separators=(",", ":"))


def pinset_key(report: Report) -> str:
    return _pinset_key(report.known_pins, report.pins_expiration)


@functools.lru_cache(maxsize=1024)
def _pinset_key(pins: tuple[str, ...], expiration: str | None) -> str:
    return json.dumps([list(pins), expiration], separators=(",", ":"))


@functools.lru_cache(maxsize=4096)
def inventory_key(app: str, pinset: str) -> str:
    """INVKEY: ``[app id, version, platform, [pins], expiration]``."""
    return f"{app[:-1]},{pinset[1:]}"


@functools.lru_cache(maxsize=64)
def _day_name(day_number: int) -> str:
    return time.strftime("%Y%m%d", time.gmtime(day_number * 86_400))


def day_parts(received_ms: int, retention_s: int) -> tuple[str, str, int]:
    """UTC day (YYYYMMDD), hour ("HH") and the day keys' expiry (unix s) of a report."""
    day_number = received_ms // 86_400_000
    hour = received_ms // 3_600_000 % 24
    return _day_name(day_number), f"{hour:02d}", (day_number + 1) * 86_400 + retention_s


def risk(r: Report) -> str:
    """"F": an enforcing client failed on a public-trust pair (losing service now); "B": a
    report-only one (at risk if it enforced); "0": neither."""
    if r.classification != PUBLIC_TRUST or r.enforce is None:
        return "0"
    return "F" if r.enforce else "B"


_NIB = (4, 3, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0)


@functools.lru_cache(maxsize=65_536)
def register(device: str) -> tuple[int, int]:
    """(index, value) of a device in an inventory sketch (``read.sketch.registers``)."""
    h = hashlib.sha1(device.encode("utf-8"), usedforsecurity=False).hexdigest()
    rank = 1
    for ch in h[6:19]:
        z = _NIB[int(ch, 16)]
        rank += z
        if z < 4:
            break
    return int(h[:6], 16) % SKETCH_M, min(rank, SKETCH_Q + 1)


def _registers(devices: Iterable[str]) -> dict[int, int]:
    regs: dict[int, int] = {}
    for dev in devices:
        idx, rank = register(dev)
        if regs.get(idx, 0) < rank:
            regs[idx] = rank
    return regs


def _packed(regs: dict[int, int]) -> bytes:
    """Registers as 3 bytes each (index high, index low, value), for the script."""
    return b"".join(bytes((i >> 8, i & 255, v)) for i, v in regs.items())


def _add(counts: dict[Any, Any], key: Any, n: int = 1) -> None:
    counts[key] = counts.get(key, 0) + n


def _span(h: _H, first: str, last: str, lo: int, hi: int) -> None:
    """Keep the minimum in ``first`` and the maximum in ``last``."""
    if lo < h.low.get(first, lo + 1):
        h.low[first] = lo
    if hi > h.high.get(last, hi - 1):
        h.high[last] = hi


class _H:
    """A hash's updates: fields to add to, to keep the minimum or maximum of, to set; and
    increments of capped collections' members (map letter + field prefix + member -> n)."""

    __slots__ = ("add", "high", "low", "mapped", "put")

    def __init__(self) -> None:
        self.add: dict[str, int] = {}
        self.low: dict[str, int] = {}
        self.high: dict[str, int] = {}
        self.put: dict[str, str] = {}
        self.mapped: dict[str, int] = {}

    def args(self) -> list[Any]:
        """As ``common.lua`` parse_hash reads them in place: the ops as one string, the
        fields, the values, then the members' updates as triples."""
        add, low, high, put, mapped = self.add, self.low, self.high, self.put, self.mapped
        out: list[Any] = [
            "+" * len(add) + "<" * len(low) + ">" * len(high) + "=" * len(put),
            *add, *low, *high, *put, *add.values(), *low.values(), *high.values(),
            *put.values(), len(mapped)]
        for k, v in mapped.items():
            out += (k[:2], k[2:], v)
        return out


def _zset_args(d: dict[str, int]) -> list[Any]:
    """A sorted set's increments (member -> n, in first-seen order): count, members, ns."""
    return [len(d), *d, *d.values()]


class _Pool:
    """Device ids sent once per distinct list: a HyperLogLog names a range of the pool."""

    def __init__(self) -> None:
        self.devices: list[str] = []
        self._ranges: dict[tuple[str, ...], tuple[int, int]] = {}

    def range(self, devices: Iterable[str]) -> tuple[int, int]:
        key = tuple(devices)
        found = self._ranges.get(key)
        if found is None:
            found = self._ranges[key] = (len(self.devices), len(key))
            self.devices.extend(key)
        return found


class _Keys:
    """KEYS of one script: fixed ones first, the rest numbered as they are asked for."""

    def __init__(self, fixed: Sequence[str]) -> None:
        self.keys = list(fixed)
        self._index = {k: i + 1 for i, k in enumerate(fixed)}

    def __call__(self, key: str) -> int:
        i = self._index.get(key)
        if i is None:
            self.keys.append(key)
            i = self._index[key] = len(self.keys)
        return i


def seq_range(items: Sequence[Stamped]) -> tuple[int, int]:
    seqs = [s.seq for s in items]
    return min(seqs), max(seqs)


# -- the host script ---------------------------------------------------------------------------
class _Day:
    __slots__ = ("breaking", "devices", "expire", "failing", "hash")

    def __init__(self, expire: int) -> None:
        self.expire = expire
        self.hash = _H()
        self.devices: dict[str, None] = {}
        self.failing: dict[str, None] = {}
        self.breaking: dict[str, None] = {}


class _Pair:
    __slots__ = ("apps", "days", "devices", "failing", "hash", "n", "verdict")

    def __init__(self) -> None:
        self.n = 0
        self.failing = 0
        self.hash = _H()
        self.apps: dict[str, int] = {}
        self.devices: dict[str, None] = {}
        self.days: dict[str, tuple[_H, dict[str, None]]] = {}
        self.verdict = ("", "", "")


class _Inv:
    __slots__ = ("days", "hi", "lo", "n")

    def __init__(self, ms: int) -> None:
        self.n = 0
        self.lo = self.hi = ms
        self.days: dict[str, list[Any]] = {}  # day -> [n, lo, hi, devices]


class _Group:
    """Reports of a batch that differ only in time and device: summed once."""

    __slots__ = ("devs", "hi", "lo", "n", "report")

    def __init__(self, report: Report) -> None:
        self.report = report
        self.n = 0
        self.lo = self.hi = report.received_ms
        self.devs: dict[str, None] = {}


def _groups(items: Sequence[Stamped], key: Any) -> dict[Any, _Group]:
    """The batch's reports grouped by ``key(report)``, with count, first/last ms, devices."""
    out: dict[Any, _Group] = {}
    for item in items:
        r = item.report
        k = key(r)
        g = out.get(k)
        if g is None:
            g = out[k] = _Group(r)
        g.n += 1
        ms = r.received_ms
        if ms < g.lo:
            g.lo = ms
        elif ms > g.hi:
            g.hi = ms
        g.devs[r.device] = None
    return out


def _host_key(r: Report) -> tuple[Any, ...]:
    """What a host script counts of a report, but its time within the hour and its device
    (and the pair's class, kept apart: the batch's latest report's)."""
    return (r.received_ms // 3_600_000, r.chain.fingerprint, r.app_id, r.app_version,
            r.platform, r.known_pins, r.pins_expiration, r.validation_result, r.enforce,
            r.classification, r.flags)


def host_call(hk: HostKeys, hostname: str, items: Sequence[Stamped], *, retention_s: int,
              cap: int, events: bool) -> tuple[list[str], list[Any]]:
    """KEYS and ARGV of ``lua/host.lua`` for one host's reports (see its header)."""
    n = ntest = 0
    lo = hi = 0
    meta, results, enforce = _H(), _H(), _H()
    apps: dict[str, int] = {}
    pinsets: dict[str, int] = {}
    devices: dict[str, None] = {}
    days: dict[str, _Day] = {}
    chains: dict[str, _Pair] = {}
    risky: dict[str, tuple[dict[str, int], dict[str, None], dict[str, dict[str, None]]]] = {}
    m5: dict[int, int] = {}
    inv: dict[str, _Inv] = {}
    verdicts: dict[str, tuple[str, str, str]] = {}
    for item in items:  # per report: only what is not summed per group
        r = item.report
        if TEST_REPORT in r.flags:
            continue
        bucket = r.received_ms // 300_000
        m5[bucket] = m5.get(bucket, 0) + 1
        verdicts[r.chain.fingerprint] = (r.classification, r.label or "", r.class_version or "")
    for g in _groups(items, _host_key).values():
        r, k, glo, ghi, gdevs = g.report, g.n, g.lo, g.hi, g.devs
        day, hour, expire = day_parts(glo, retention_s)
        d = days.get(day)
        if d is None:
            d = days[day] = _Day(expire)
        dh = d.hash
        if TEST_REPORT in r.flags:
            ntest += k
            _add(dh.add, "test_reports", k)
            continue
        if n == 0:
            lo, hi = glo, ghi
        else:
            lo, hi = min(lo, glo), max(hi, ghi)
        n += k
        fp, app, pin = r.chain.fingerprint, app_key(r), pinset_key(r)
        result = str(r.validation_result) if r.validation_result is not None else "none"
        enf = _ENFORCEMENT[r.enforce]
        _add(apps, app, k)
        _add(pinsets, pin, k)
        _add(results.add, result, k)
        _add(enforce.add, enf, k)
        devices.update(gdevs)
        add = dh.add
        _add(add, "n", k)
        _add(add, "h" + hour, k)
        _add(add, "r" + result, k)
        _add(add, "e" + enf, k)
        for flag in r.flags:
            _add(meta.add, "flag:" + flag, k)
            _add(add, "x" + flag, k)
        _add(dh.mapped, "Cc" + fp, k)
        _add(dh.mapped, "Aa" + app, k)
        _add(dh.mapped, "Pp" + pin, k)
        _span(dh, "first", "last", glo, ghi)
        d.devices.update(gdevs)
        p = chains.get(fp)
        if p is None:
            p = chains[fp] = _Pair()
        p.n += k
        ph = p.hash
        _span(ph, "first_seen", "last_seen", glo, ghi)
        _add(ph.add, enf, k)
        _add(p.apps, app, k)
        p.devices.update(gdevs)
        pd = p.days.get(day)
        if pd is None:
            pd = p.days[day] = (_H(), {})
        pdh = pd[0]
        _add(pdh.add, "n", k)
        _add(pdh.add, "h" + hour, k)
        _add(pdh.add, "e" + enf, k)
        _add(pdh.mapped, "Qa" + app, k)
        _span(pdh, "first", "last", glo, ghi)
        pd[1].update(gdevs)
        rk = risk(r)
        if rk != "0":
            if rk == "F":
                p.failing += k
                _add(ph.add, "failing", k)
                d.failing.update(gdevs)
                _add(dh.mapped, "FF" + app, k)
            else:
                _add(ph.add, "at_risk", k)
                d.breaking.update(gdevs)
                _add(dh.mapped, "BB" + app, k)
            group = risky.get(rk)
            if group is None:
                group = risky[rk] = ({}, {}, {})
            _add(group[0], app, k)
            group[1].update(gdevs)
            group[2].setdefault(app, {}).update(gdevs)
        member = inventory_key(app, pin)
        e = inv.get(member)
        if e is None:
            e = inv[member] = _Inv(glo)
        e.n += k
        e.lo, e.hi = min(e.lo, glo), max(e.hi, ghi)
        ed = e.days.get(day)
        if ed is None:
            ed = e.days[day] = [0, glo, ghi, {}]
        ed[0] += k
        ed[1], ed[2] = min(ed[1], glo), max(ed[2], ghi)
        ed[3].update(gdevs)
    for fp, p in chains.items():
        p.verdict = verdicts[fp]
    if ntest:
        meta.add["test_reports"] = ntest
    meta.put["hostname"] = hostname
    if n:
        meta.add["reports"] = n
        meta.low["first_seen"] = lo
        meta.high["last_seen"] = hi

    key = _Keys(hk.fixed())
    pool = _Pool()
    seq_lo, seq_hi = seq_range(items)
    argv: list[Any] = [items[0].writer, seq_lo, seq_hi, retention_s, cap, hostname,
                       hk.pair_prefix, "1" if events else "0", REFRESH_MS, n, ntest, lo, hi, 0]
    argv += meta.args()
    # the day keys: hash, devices, failing devices, at-risk devices
    argv.append(len(days))
    for day, d in days.items():
        argv += (d.expire, key(hk.day(day)), key(hk.devices_day(day)),
                 key(hk.failing_day(day)) if d.failing else 0,
                 key(hk.breaking_day(day)) if d.breaking else 0,
                 *d.hash.args(), *pool.range(d.devices), *pool.range(d.failing),
                 *pool.range(d.breaking))
    if n:
        argv += results.args()
        argv += enforce.args()
        argv += _zset_args(apps)
        argv += _zset_args(pinsets)
        argv += pool.range(devices)
        for rk in ("F", "B"):
            group = risky.get(rk)
            if group is None:
                argv.append(0)
                continue
            counts, devs, per_app = group
            argv += _zset_args(counts)
            argv += pool.range(devs)
            for app in counts:
                argv += (key(hk.failing_app(app) if rk == "F" else hk.breaking_app(app)),
                         *pool.range(per_app[app]))
        argv.append(len(chains))
        for fp, p in chains.items():
            ph = p.hash
            ph.add["reports"] = p.n
            ph.put["class"], ph.put["label"], ph.put["cv"] = p.verdict
            argv += (fp, *p.verdict, p.n, p.failing, key(hk.pair(fp)),
                     key(hk.pair_devices(fp)), key(hk.pair_apps(fp)), *ph.args(),
                     *_zset_args(p.apps), *pool.range(p.devices), len(p.days))
            for day, (h, devs) in p.days.items():
                argv += (days[day].expire, key(hk.pair_day(fp, day)),
                         key(hk.pair_devices_day(fp, day)), *h.args(), *pool.range(devs))
        argv.append(len(m5))
        for bucket, count in m5.items():
            argv += (key(hk.minutes5(bucket)), count, (bucket + 1) * 300 + 1800)
        argv += (key(hk.inventory), key(hk.inventory_seen), key(hk.inventory_other), len(inv))
        for member in sorted(inv):
            e = inv[member]
            every: dict[int, int] = {}
            day_args: list[Any] = []
            for day, (count, first, last, devs) in e.days.items():
                regs = _registers(devs)
                if len(e.days) > 1:
                    for i, v in regs.items():
                        if every.get(i, 0) < v:
                            every[i] = v
                else:
                    every = regs
                day_args += (days[day].expire, key(hk.inventory_day(day)),
                             key(hk.inventory_devices_day(member, day)), count, first, last,
                             _packed(regs))
            argv += (member, key(hk.inventory_devices(member)), e.n, e.lo, e.hi,
                     _packed(every), len(e.days), *day_args)
    argv[13] = len(argv) + 1  # where the device pool starts
    argv += pool.devices
    return key.keys, argv


_ENFORCEMENT = {True: "enforced", False: "report_only", None: "unknown"}


# -- the global scripts ------------------------------------------------------------------------
def _global_key(r: Report) -> tuple[Any, ...]:
    return (r.received_ms // 3_600_000, r.classification, TEST_REPORT in r.flags)


def global_call(g: GlobalKeys, items: Sequence[Stamped], *, retention_s: int) \
        -> tuple[list[str], list[Any]]:
    """KEYS and ARGV of ``lua/global.lua``: totals, classes, devices, the daily hash."""
    n = ntest = 0
    classes = _H()
    devices: dict[str, None] = {}
    days: dict[str, tuple[int, _H, dict[str, None]]] = {}
    for grp in _groups(items, _global_key).values():
        r, k = grp.report, grp.n
        day, hour, expire = day_parts(grp.lo, retention_s)
        d = days.get(day)
        if d is None:
            d = days[day] = (expire, _H(), {})
        h = d[1].add
        if TEST_REPORT in r.flags:
            ntest += k
            _add(h, "test_reports", k)
            continue
        n += k
        _add(classes.add, r.classification, k)
        devices.update(grp.devs)
        _add(h, "n", k)
        _add(h, "h" + hour, k)
        _add(h, "k" + r.classification, k)
        d[2].update(grp.devs)
    key = _Keys([g.totals, g.classes, g.devices, g.applied])
    pool = _Pool()
    seq_lo, seq_hi = seq_range(items)
    totals = _H()
    if n:
        totals.add["reports"] = n
    if ntest:
        totals.add["test_reports"] = ntest
    argv: list[Any] = [items[0].writer, seq_lo, seq_hi, retention_s, n + ntest, 0,
                       *totals.args(), *classes.args(), *pool.range(devices),
                       len(days)]
    for day, (expire, dh, devs) in days.items():
        argv += (expire, key(g.day(day)), key(g.devices_day(day)), *dh.args(),
                 *pool.range(devs))
    argv[5] = len(argv) + 1
    argv += pool.devices
    return key.keys, argv


class _Chain:
    __slots__ = ("days", "hash", "hosts", "report")

    def __init__(self, report: Report) -> None:
        self.report = report  # certificates and port: as the chain was first seen
        self.hash = _H()
        self.hosts: dict[str, int] = {}
        self.days: dict[str, tuple[_H, dict[str, int]]] = {}


def shard_items(g: GlobalKeys, items: Sequence[Stamped]) -> dict[int, list[int]]:
    """Indices of the batch's non-test reports per shard they touch (host's, chain's)."""
    out: dict[int, list[int]] = {}
    for i, item in enumerate(items):
        r = item.report
        if TEST_REPORT in r.flags:
            continue
        a, b = shard_index(r.hostname), shard_index(r.chain.fingerprint)
        out.setdefault(a, []).append(i)
        if b != a:
            out.setdefault(b, []).append(i)
    return out


def _shard_key(r: Report) -> tuple[Any, ...]:
    return (r.received_ms // 3_600_000, r.hostname, r.chain.fingerprint, risk(r))


def shard_call(s: ShardKeys, index: int, items: Sequence[Stamped], *, retention_s: int,
               chain_hosts_cap: int) -> tuple[list[str], list[Any]]:
    """KEYS and ARGV of ``lua/shard.lua`` for the reports touching shard ``index``: the
    rankings of its hosts, the rankings and records of its chains."""
    hosts: dict[str, int] = {}
    last: dict[str, int] = {}
    failing: dict[str, int] = {}
    breaking: dict[str, int] = {}
    fps: dict[str, int] = {}
    fps_last: dict[str, int] = {}
    days: dict[str, tuple[int, dict[str, int], dict[str, int], dict[str, int],
                          dict[str, int]]] = {}
    chains: dict[str, _Chain] = {}
    latest: dict[str, Report] = {}  # each chain's latest report: its own class
    for item in items:
        latest[item.report.chain.fingerprint] = item.report
    for grp in _groups(items, _shard_key).values():
        r, k, lo, hi = grp.report, grp.n, grp.lo, grp.hi
        host, fp = r.hostname, r.chain.fingerprint
        day, hour, expire = day_parts(lo, retention_s)
        d = days.get(day)
        if d is None:
            d = days[day] = (expire, {}, {}, {}, {})
        if shard_index(host) == index:
            _add(hosts, host, k)
            if hi > last.get(host, 0):
                last[host] = hi
            _add(d[1], host, k)
            rk = risk(r)
            if rk == "F":
                _add(failing, host, k)
                _add(d[3], host, k)
            elif rk == "B":
                _add(breaking, host, k)
                _add(d[4], host, k)
        if shard_index(fp) == index:
            _add(fps, fp, k)
            if hi > fps_last.get(fp, 0):
                fps_last[fp] = hi
            _add(d[2], fp, k)
            c = chains.get(fp)
            if c is None:
                c = chains[fp] = _Chain(r)
            h = c.hash
            _add(h.add, "reports", k)
            _span(h, "first_seen", "last_seen", lo, hi)
            _add(c.hosts, host, k)
            cd = c.days.get(day)
            if cd is None:
                cd = c.days[day] = (_H(), {})
            _add(cd[0].add, "n", k)
            _add(cd[0].add, "h" + hour, k)
            _span(cd[0], "first", "last", lo, hi)
            _add(cd[1], host, k)
    for fp, c in chains.items():
        # The chain's own class: the latest report's (a record spooled before chain classes
        # existed carries its pair class and no version: the reader sees it stale).
        r = latest[fp]
        put = c.hash.put
        put["classification"] = r.chain_classification or r.classification
        put["label"] = (r.chain_label if r.chain_classification else r.label) or ""
        put["cv"] = r.class_version or ""
    key = _Keys([s.applied, s.hosts, s.hosts_last, s.hosts_failing, s.hosts_breaking,
                 s.chains, s.chains_last])
    seq_lo, seq_hi = seq_range(items)
    argv: list[Any] = [items[0].writer, seq_lo, seq_hi, retention_s, chain_hosts_cap,
                       REFRESH_MS, len(items)]
    for counts in (hosts, last, failing, breaking, fps, fps_last):
        argv += _zset_args(counts)
    argv.append(len(days))
    for day, (expire, dh, dc, df, db) in days.items():
        argv.append(expire)
        for name, counts in ((s.day_hosts(day), dh), (s.day_chains(day), dc),
                             (s.day_failing(day), df), (s.day_breaking(day), db)):
            argv += (key(name) if counts else 0, *_zset_args(counts))
    argv.append(len(chains))
    for fp, c in chains.items():
        chain = c.report.chain
        argv += (key(s.chain(fp)), key(s.chain_hosts(fp)), c.report.port,
                 ",".join(chain.cert_hashes), *c.hash.args(), *_zset_args(c.hosts),
                 len(c.days))
        for day, (h, hs) in c.days.items():
            argv += (days[day][0], key(s.chain_day(fp, day)), key(s.chain_hosts_day(fp, day)),
                     *h.args(), *_zset_args(hs))
    return key.keys, argv
