"""Per (host, chain) pair aggregates, losing service now, the protected cap, test reports.

All against a real redis-server: what the write side stores for issue 11's data contract.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from typing import Any

import pytest
import redis
from flask.testing import FlaskClient

from collector.aggregates.connection import connect
from collector.aggregates.keys import Keys
from collector.aggregates.writer import PoisonRecord, ReportStore, Stamped, app_key
from collector.durable.sink import decode, encode
from collector.intake.chains import Chain
from collector.intake.report import Report
from collector.intel.classify import Classifier
from tests.helpers import CHROME_FP, EXAMPLES, example_doc, report, send, snapshot

PREFIX = "pc"
KEYS = Keys(PREFIX)
DAY_MS = 86_400_000


def store(url: str, cap: int = 200, retention_s: int = 86400) -> ReportStore:
    return ReportStore(connect(url, 1.0), KEYS, retention_s=retention_s, host_cap=cap)


def stamp(reports: list[Report], writer: str = "w", start: int = 1) -> list[Stamped]:
    return [Stamped(r, writer, start + i) for i, r in enumerate(reports)]


def fake_chain(n: int) -> Chain:
    """A distinct chain for the writer (it never parses certificates)."""
    der = f"not a certificate {n}".encode()
    return Chain(ders=(der,), fingerprint=hashlib.sha256(der).hexdigest(), pins=())


def classed(base: Report, chain: Chain, kind: str, **changes: Any) -> Report:
    return dataclasses.replace(base, chain=chain, classification=kind, chain_classification=kind,
                               class_version="v1", **changes)


def day_of(ms: int) -> str:
    return time.strftime("%Y%m%d", time.gmtime(ms // 1000))


def pair_keys(rdb: redis.Redis, hostname: str, fp: str) -> list[bytes]:
    return sorted(rdb.scan_iter(KEYS.host(hostname).pair(fp) + "*"))


def strings(mapping: dict[bytes, bytes]) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in mapping.items()}


def test_a_public_chain_is_public_trust_only_for_the_host_its_leaf_covers(
        pclient: FlaskClient, rdb: redis.Redis) -> None:
    own = example_doc("chromium-hpkp.json")  # its leaf names api.example.com
    elsewhere = {**own, "hostname": "b.example.com"}
    send(pclient, own, elsewhere, own)
    version = Classifier.from_files(str(EXAMPLES / "public-root.pem")).version
    a = strings(rdb.hgetall(KEYS.host("api.example.com").pair(CHROME_FP)))
    b = strings(rdb.hgetall(KEYS.host("b.example.com").pair(CHROME_FP)))
    assert (a["class"], a["label"], a["cv"], a["reports"]) == (
        "public-trust", "Example Public Root R1", version, "2")
    assert (b["class"], b["cv"], b["reports"]) == ("unknown", version, "1")
    assert b["label"] == "Example Public Root R1: leaf does not cover this host"
    chain = strings(rdb.hgetall(KEYS.glob.chain(CHROME_FP)))
    assert (chain["classification"], chain["label"], chain["cv"]) == (
        "public-trust", "Example Public Root R1", version)
    day = day_of(int(time.time() * 1000))
    assert rdb.zscore(KEYS.glob.chain_hosts_day(CHROME_FP, day), "b.example.com") == 1
    assert int(rdb.hget(KEYS.glob.chain_day(CHROME_FP, day), "n") or 0) == 3
    assert dict(rdb.hgetall(KEYS.glob.classes)) == {b"public-trust": b"2", b"unknown": b"1"}


def test_enforcing_clients_on_a_public_trust_pair_are_failing(rdb: redis.Redis,
                                                              redis_server: Any) -> None:
    st = store(redis_server.url)
    base, chain = report(0), fake_chain(1)
    enforced = [classed(report(n), chain, "public-trust", enforce=True) for n in (1, 2, 2)]
    report_only = [classed(report(n), chain, "public-trust", enforce=False) for n in (3, 4)]
    unknown = [classed(report(n), fake_chain(2), "unknown", enforce=True) for n in (5, 6)]
    assert st.write(stamp([*enforced, *report_only, *unknown])) == 7
    hk, g = KEYS.host(base.hostname), KEYS.glob
    pair = strings(rdb.hgetall(hk.pair(chain.fingerprint)))
    assert {k: pair[k] for k in ("reports", "failing", "at_risk", "enforced", "report_only")} \
        == {"reports": "5", "failing": "3", "at_risk": "2", "enforced": "3", "report_only": "2"}
    assert rdb.pfcount(hk.pair_devices(chain.fingerprint)) == 4
    assert "failing" not in strings(rdb.hgetall(hk.pair(fake_chain(2).fingerprint)))
    app = app_key(base)
    day = day_of(base.received_ms)
    assert rdb.pfcount(hk.failing) == 2 and rdb.pfcount(hk.failing_day(day)) == 2
    assert rdb.pfcount(hk.failing_app(app)) == 2
    assert rdb.pfcount(hk.breaking) == 2 and rdb.pfcount(hk.breaking_app(app)) == 2
    assert rdb.zscore(hk.failing_apps, app) == 3 and rdb.zscore(hk.breaking_apps, app) == 2
    host_day = strings(rdb.hgetall(hk.day(day)))
    assert (host_day["F" + app], host_day["B" + app]) == ("3", "2")
    shard = g.of_host(base.hostname)
    assert rdb.zscore(shard.hosts_failing, base.hostname) == 3
    assert rdb.zscore(shard.day_failing(day), base.hostname) == 3
    assert rdb.zscore(shard.hosts_breaking, base.hostname) == 2
    pair_day = strings(rdb.hgetall(hk.pair_day(chain.fingerprint, day)))
    assert (pair_day["n"], pair_day["eenforced"], pair_day["a" + app]) == ("5", "3", "5")
    assert int(pair_day["first"]) <= int(pair_day["last"])
    assert rdb.pfcount(hk.pair_devices_day(chain.fingerprint, day)) == 4


def test_the_cap_keeps_public_trust_pairs_and_evicts_others_with_their_keys(
        rdb: redis.Redis, redis_server: Any) -> None:
    # Five years of retention, so day keys of 2024 (across a leap day) still exist.
    st = store(redis_server.url, cap=2, retention_s=5 * 365 * 86400)
    base = report(0)
    host = base.hostname
    hk = KEYS.host(host)
    leap = 1_709_164_800_000  # 2024-02-29T00:00:00Z
    early, late = fake_chain(1), fake_chain(2)
    # Two unprotected chains fill the cap, the less reported one seen over three days.
    first = [classed(dataclasses.replace(base, received_ms=leap + d * DAY_MS), early, "unknown")
             for d in (-1, 0, 1)]
    second = [classed(report(n), late, "interception-tool") for n in range(5)]
    st.write(stamp([*first, *second]))
    assert {day_of(leap + d * DAY_MS) for d in (-1, 0, 1)} == {"20240228", "20240229",
                                                                "20240301"}
    assert rdb.exists(hk.pair_day(early.fingerprint, "20240229"))
    assert len(pair_keys(rdb, host, early.fingerprint)) == 9  # hash, devices, apps, 3 x 2 days
    # A flood of interception-like and unknown chains: folded into `other`, no pair keys.
    flood = [classed(report(n), fake_chain(100 + n), "interception-tool" if n % 2 else "unknown")
             for n in range(50)]
    st.write(stamp(flood, start=100))
    public = fake_chain(3)
    st.write(stamp([classed(report(9), public, "public-trust", enforce=True)], start=1000))
    # The public-trust chain took the least-reported unprotected chain's member.
    chains = {m.decode(): s for m, s in rdb.zrange(hk.chains, 0, -1, withscores=True)}
    assert chains == {late.fingerprint: 5, public.fingerprint: 1, "other": 53}
    assert pair_keys(rdb, host, early.fingerprint) == []
    assert rdb.pfcount(hk.other_chains) == 51
    assert all(pair_keys(rdb, host, c.chain.fingerprint) == [] for c in flood)
    more = [classed(report(n), fake_chain(200 + n), "unknown") for n in range(50)]
    st.write(stamp(more, start=2000))
    chains = {m.decode(): s for m, s in rdb.zrange(hk.chains, 0, -1, withscores=True)}
    assert chains == {late.fingerprint: 5, public.fingerprint: 1, "other": 103}
    assert rdb.hget(hk.pair(public.fingerprint), "class") == b"public-trust"
    assert len(pair_keys(rdb, host, public.fingerprint)) == 5
    # A second protected chain past the cap evicts the last unprotected one; a third one,
    # with nothing left to evict, still gets its own member (never folded).
    for n, fp_chain in enumerate((fake_chain(4), fake_chain(5))):
        st.write(stamp([classed(report(n), fp_chain, "public-trust")], start=3000 + n))
    chains = {m.decode(): s for m, s in rdb.zrange(hk.chains, 0, -1, withscores=True)}
    assert chains == {public.fingerprint: 1, fake_chain(4).fingerprint: 1,
                      fake_chain(5).fingerprint: 1, "other": 108}
    assert pair_keys(rdb, host, late.fingerprint) == []


def test_a_pair_with_failing_reports_stays_protected(rdb: redis.Redis,
                                                     redis_server: Any) -> None:
    st = store(redis_server.url, cap=2)
    chain = fake_chain(1)
    st.write(stamp([classed(report(1), chain, "public-trust", enforce=True)]))
    # New roots: the pair is no longer public-trust, but devices failed on it.
    st.write(stamp([classed(report(2), chain, "unknown"),
                    classed(report(3), fake_chain(2), "unknown")], start=2))
    st.write(stamp([classed(report(4), fake_chain(3), "public-trust")], start=4))
    members = {m.decode() for m in rdb.zrange(KEYS.host("api.example.com").chains, 0, -1)}
    assert members == {chain.fingerprint, fake_chain(3).fingerprint, "other"}


def test_test_reports_count_only_as_test_reports(rdb: redis.Redis, redis_server: Any) -> None:
    st = store(redis_server.url)
    probe = classed(report(1, host="probe.example.com"), fake_chain(1), "public-trust",
                    enforce=True, flags=("test-report",))
    assert st.write(stamp([probe, probe], start=1)) == 2
    hk, g = KEYS.host("probe.example.com"), KEYS.glob
    day = day_of(probe.received_ms)
    assert strings(rdb.hgetall(g.totals)) == {"test_reports": "2"}
    assert strings(rdb.hgetall(hk.meta)) == {"hostname": "probe.example.com",
                                             "test_reports": "2"}
    assert strings(rdb.hgetall(hk.day(day))) == {"test_reports": "2"}
    assert strings(rdb.hgetall(g.day(day))) == {"test_reports": "2"}
    names = {k.decode() for k in rdb.scan_iter("*")}
    assert names == {g.totals, g.applied, g.day(day), hk.meta, hk.applied, hk.day(day)}
    assert st.write(stamp([probe, probe], start=1)) == 0
    assert rdb.hget(g.totals, "test_reports") == b"2"
    # Mixed with a real report, only the real one counts as a report.
    real = dataclasses.replace(probe, flags=())
    st.write(stamp([probe, real], start=3))
    assert strings(rdb.hgetall(g.totals)) == {"test_reports": "3", "reports": "1"}
    assert rdb.hget(hk.meta, "reports") == b"1" and rdb.hget(hk.meta, "test_reports") == b"3"
    assert rdb.zscore(g.of_host("probe.example.com").hosts_failing, "probe.example.com") == 1


def test_replaying_a_batch_counts_nothing_twice(rdb: redis.Redis, redis_server: Any) -> None:
    st = store(redis_server.url, cap=2)
    reports = [
        classed(report(1), fake_chain(1), "public-trust", enforce=True),
        classed(report(2), fake_chain(1), "public-trust", enforce=False),
        classed(report(3), fake_chain(2), "unknown", flags=("expired",)),
        classed(report(4), fake_chain(3), "unknown"),
        classed(report(5), fake_chain(4), "tls-inspection"),
        classed(report(6), fake_chain(5), "public-trust", flags=("test-report",)),
        classed(report(7, host="other.example.com"), fake_chain(1), "unknown"),
    ]
    assert st.write(stamp(reports)) == 7
    before = snapshot(rdb)
    assert st.write(stamp(reports)) == 0
    assert st.write(stamp(reports[2:], start=3)) == 0  # a partial replay too
    assert snapshot(rdb) == before


def content(rdb: redis.Redis) -> dict[bytes, Any]:
    """Every key's value, HLLs by their count (their bytes depend on the order of adds)."""
    db: Any = rdb
    out: dict[bytes, Any] = {}
    for key in db.scan_iter("*"):
        kind = db.type(key)
        if kind == b"hash":
            out[key] = db.hgetall(key)
        elif kind == b"zset":
            out[key] = db.zrange(key, 0, -1, withscores=True)
        else:
            value = db.get(key)
            out[key] = db.pfcount(key) if value.startswith(b"HYLL") else value
    return out


def test_a_batch_equals_the_same_reports_one_by_one(rdb: redis.Redis,
                                                    redis_server: Any) -> None:
    """Below the cap (past it, which chain gets a member depends on arrival order)."""
    reports = [classed(report(n % 3), fake_chain(n % 4), "public-trust" if n % 4 else "unknown",
                       enforce=n % 2 == 0, flags=("test-report",) if n == 5 else ())
               for n in range(12)]
    store(redis_server.url).write(stamp(reports))
    batched = content(rdb)
    rdb.flushall()
    st = store(redis_server.url)
    for i, r in enumerate(reports):
        st.write(stamp([r], start=i + 1))
    assert content(rdb) == batched


def test_every_new_key_expires(rdb: redis.Redis, redis_server: Any) -> None:
    st = store(redis_server.url, cap=1)
    st.write(stamp([classed(report(1), fake_chain(1), "unknown"),
                    classed(report(2), fake_chain(2), "public-trust", enforce=True),
                    classed(report(3), fake_chain(3), "public-trust", enforce=False),
                    classed(report(4), fake_chain(4), "unknown", flags=("test-report",))]))
    for key in rdb.scan_iter(f"{PREFIX}:*"):
        ttl = rdb.ttl(key)
        assert (ttl == -1) if key.endswith(b":totals") else (0 < ttl <= 2 * 86400), key


def test_an_old_spool_record_without_class_fields_replays(rdb: redis.Redis,
                                                          redis_server: Any) -> None:
    new = dataclasses.replace(report(1), classification="public-trust", label="R1")
    doc = json.loads(encode(Stamped(new, "old-writer", 7)))
    for name in ("chain_classification", "chain_label", "class_version"):
        del doc[name]
    stamped = decode(json.dumps(doc).encode())
    assert (stamped.writer, stamped.seq) == ("old-writer", 7)
    assert stamped.report == dataclasses.replace(new, chain_classification=None,
                                                 chain_label=None, class_version=None)
    assert store(redis_server.url).write([stamped]) == 1
    fp = new.chain.fingerprint
    chain = strings(rdb.hgetall(KEYS.glob.chain(fp)))
    assert (chain["classification"], chain["label"], chain["cv"]) == ("public-trust", "R1", "")
    pair = strings(rdb.hgetall(KEYS.host(new.hostname).pair(fp)))
    assert (pair["class"], pair["cv"]) == ("public-trust", "")


def test_a_pair_key_of_the_wrong_type_refuses_the_batch_before_any_write(
        rdb: redis.Redis, redis_server: Any) -> None:
    st = store(redis_server.url)
    good = classed(report(1), fake_chain(1), "public-trust", enforce=True)
    bad = classed(report(2), fake_chain(2), "unknown")
    hk = KEYS.host(good.hostname)
    rdb.set(hk.pair_day(bad.chain.fingerprint, day_of(bad.received_ms)), "not a hash")
    before = snapshot(rdb)
    with pytest.raises(PoisonRecord) as refused:
        st.write(stamp([good, bad]))
    assert refused.value.indices == [0, 1]  # one host script: the whole host's batch
    assert snapshot(rdb) == before
