"""A batch merged before Redis writes exactly what its reports written one by one would.

Every comparison is a whole-Redis dump, key by key (HyperLogLogs by count, inventory sketches
byte for byte): a merge that lost or double-counted anything shows up as a differing key.
The truth is written under another key prefix of the same Redis, one report per batch.
"""

from __future__ import annotations

import random
import time
from typing import Any

import pytest
import redis

from collector.aggregates.connection import connect
from collector.aggregates.keys import SHARD_TAGS, Keys
from collector.aggregates.read import rankings
from collector.aggregates.read.chain_list import chains_page
from collector.aggregates.read.context import ReadContext
from collector.aggregates.read.hosts import hosts_page
from collector.aggregates.read.summary import summary_doc
from collector.aggregates.read.windows import Window
from collector.aggregates.writer import PairEvent, ReportStore, Stamped, StorageUnavailable
from collector.intake.report import Report
from collector.server.embedded import RedisServer
from tests.aggregates.dumps import Dump, differences, dump, varied
from tests.helpers import ReplyDropper

R = 90 * 86_400


def store(url: str, prefix: str, events: list[PairEvent] | None = None,
          cap: int = 200, timeout: float = 2.0) -> ReportStore:
    return ReportStore(connect(url, timeout), Keys(prefix), retention_s=R, host_cap=cap,
                       on_events=None if events is None else events.extend)


def stamped(reports: list[Report], writer: str = "w") -> list[Stamped]:
    return [Stamped(r, writer, i + 1) for i, r in enumerate(reports)]


def batches(items: list[Stamped], rng: random.Random) -> list[list[Stamped]]:
    out, i = [], 0
    while i < len(items):
        k = rng.choice((1, 3, 17, 60, 150))
        out.append(items[i:i + k])
        i += k
    return out


def as_prefix(d: Dump, prefix: str) -> Dump:
    """Key names without their prefix, so two prefixes' dumps compare."""
    return {k.removeprefix(prefix + ":"): v for k, v in d.items()}


def truth(rdb: redis.Redis, url: str, items: list[Stamped], prefix: str = "one") -> Dump:
    """Each report in a batch of its own."""
    st = store(url, prefix)
    for item in items:
        st.write([item])
    return as_prefix(dump(rdb, prefix), prefix)


def test_a_merged_batch_writes_what_one_report_per_batch_writes(
        rdb: redis.Redis, redis_server: RedisServer) -> None:
    rng = random.Random(1)
    items = stamped(varied(rng, 600, hosts=4, chains=5, devices=40, days=3))
    merged_events: list[PairEvent] = []
    single_events: list[PairEvent] = []
    merged = store(redis_server.url, "many", merged_events)
    written = sum(merged.write(b) for b in batches(items, rng))
    single = store(redis_server.url, "one", single_events)
    assert written == sum(single.write([item]) for item in items) == len(items)
    a, b = as_prefix(dump(rdb, "many"), "many"), as_prefix(dump(rdb, "one"), "one")
    assert len(a) > 300  # hosts, pairs, days, apps, inventory, shards: the data is all there
    assert differences(a, b) == []
    assert {(e.hostname, e.fingerprint, e.kind) for e in merged_events} == \
        {(e.hostname, e.fingerprint, e.kind) for e in single_events}
    assert len(merged_events) == len(single_events)
    for key in rdb.scan_iter("many:*"):  # and everything but the totals expires
        assert (rdb.ttl(key) == -1) == key.endswith(b"{g}:totals"), key


def test_a_storm_batch_counts_each_device_once_per_hyperloglog(
        rdb: redis.Redis, redis_server: RedisServer) -> None:
    """One host, one chain, one app: every counter of a batch of 200 becomes one increment."""
    rng = random.Random(2)
    items = stamped(varied(rng, 200, hosts=1, chains=1, devices=30, days=1))
    store(redis_server.url, "many").write(items)
    assert differences(as_prefix(dump(rdb, "many"), "many"),
                       truth(rdb, redis_server.url, items)) == []
    hk = Keys("many").host("h0.example.com")
    tests = sum(1 for s in items if s.report.is_test)
    assert int(rdb.hget(hk.meta, "reports") or 0) == len(items) - tests
    assert rdb.pfcount(hk.devices) == len({s.report.device for s in items
                                           if not s.report.is_test})


def test_a_replayed_merged_batch_counts_once_however_it_is_cut(
        rdb: redis.Redis, redis_server: RedisServer) -> None:
    rng = random.Random(3)
    items = stamped(varied(rng, 300, hosts=5, chains=6, devices=25, days=2))
    st = store(redis_server.url, "many")
    assert st.write(items[:120]) == 120
    assert st.write(items[:120]) == 0  # the same batch again: nothing new anywhere
    # cut elsewhere: each slot's mark falls inside these batches, so each slot is sent the
    # reports after its own mark only
    assert st.write(items[100:200]) == 80
    assert st.write(items[150:300]) == 100
    assert st.write(items[37:241]) == 0
    assert differences(as_prefix(dump(rdb, "many"), "many"),
                       truth(rdb, redis_server.url, items)) == []


def test_lost_replies_of_merged_batches_are_never_counted_twice(
        rdb: redis.Redis, tcp_redis: tuple[RedisServer, int]) -> None:
    """Redis applies a batch (or part of its scripts) but the reply is lost; the writer
    replays it cut differently. The result is the truth, to the key."""
    server, port = tcp_redis
    direct = redis.Redis.from_url(server.url)
    rng = random.Random(4)
    items = stamped(varied(rng, 400, hosts=6, chains=6, devices=30, days=2))
    proxy = ReplyDropper(port)
    try:
        st = store(f"redis://127.0.0.1:{proxy.port}/0", "many", timeout=0.3)
        done, lost = 0, 0
        while done < len(items):
            size = rng.choice((20, 45, 90))
            batch = items[done:done + size]
            if rng.random() < 0.4:
                proxy.dropping.set()
                with pytest.raises(StorageUnavailable):
                    st.write(batch)
                proxy.dropping.clear()
                lost += 1
                time.sleep(0.05)
                done = max(0, done - rng.randrange(15))  # replayed from a little earlier
                continue
            st.write(batch)
            done += len(batch)
        assert lost > 0 and proxy.dropped > 0, "no reply was dropped: the test proves nothing"
    finally:
        proxy.close()
    assert differences(as_prefix(dump(direct, "many"), "many"),
                       truth(direct, server.url, items)) == []
    direct.close()


def test_sharded_global_rankings_read_as_one_ranking(
        rdb: redis.Redis, redis_server: RedisServer) -> None:
    """The rankings spread over eight shards read back in the order one sorted set would
    give, page after page, all-time and windowed."""
    rng = random.Random(5)
    reports = varied(rng, 900, hosts=70, chains=14, devices=50, days=2)
    store(redis_server.url, "pc").write(stamped(reports))
    counted = [r for r in reports if not r.is_test]
    hosts: dict[str, int] = {}
    chains: dict[str, int] = {}
    for r in counted:
        hosts[r.hostname] = hosts.get(r.hostname, 0) + 1
        chains[r.chain.fingerprint] = chains.get(r.chain.fingerprint, 0) + 1
    one_zset = rankings.ordered(list(hosts.items()))  # what ZREVRANGE on one key gives
    ctx = ReadContext(rdb, Keys("pc"), 90)
    used = {k.split(b"}")[0] for k in rdb.scan_iter("pc:{g:*}:hosts")}
    assert len(used) > 4  # really spread over the shards
    assert rankings.top(ctx, rankings.HOSTS, -1) == one_zset
    assert rankings.count(ctx, rankings.HOSTS) == len(hosts)
    paged: list[str] = []
    offset = 0
    while True:
        items, more = hosts_page(ctx, Window(), "reports", offset, 9)
        paged += [i["hostname"] for i in items]
        offset += 9
        if not more:
            break
    assert paged == [h for h, _ in one_zset]
    assert [(i["hostname"], i["reports"]) for i in hosts_page(ctx, Window(), "reports", 0, 5)[0]] \
        == one_zset[:5]
    summary = summary_doc(ctx, Window())
    assert (summary["reports"], summary["hosts"], summary["chains"]) == \
        (len(counted), len(hosts), len(chains))
    assert [(h["hostname"], h["reports"]) for h in summary["top_hosts"]] == one_zset[:10]
    assert [(c["fingerprint"], c["reports"]) for c in summary["top_chains"]] == \
        rankings.ordered(list(chains.items()))[:10]
    since = Window(since=Window().span(90, _now())[0])  # a window holding everything
    windowed = summary_doc(ctx, since)
    assert (windowed["reports"], windowed["hosts"], windowed["chains"]) == \
        (len(counted), len(hosts), len(chains))
    listed: list[str] = []
    cursor: int | None = 0
    while cursor is not None:
        page, cursor = chains_page(ctx, Window(), cursor, 4)
        listed += [c["fingerprint"] for c in page]
    assert listed == [fp for fp, _ in rankings.ordered(list(chains.items()))]


def test_global_shards_sit_in_eight_slots_spread_over_the_slot_space() -> None:
    from redis.crc import key_slot

    g = Keys("pc").glob
    slots = [key_slot(s.hosts.encode()) for s in g.shards]
    assert len(g.shards) == len(SHARD_TAGS) == 8
    assert sorted(slot * 8 // 16384 for slot in slots) == list(range(8))
    fp = "ab" * 32
    s = g.of_chain(fp)
    assert {key_slot(k.encode()) for k in (s.chains, g.chain(fp), g.chain_hosts(fp),
                                           g.chain_day(fp, "20260101"))} == \
        {key_slot(s.hosts.encode())}


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)
