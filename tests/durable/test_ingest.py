"""Durability of accepted reports: spool first, Redis behind, exactly-once replays.

The Ingestor is driven step by step (no background thread) against a real redis-server
that the tests kill, restart and fill with poison keys; its timed duties (restart check,
segment rotation) fall due on a clock the tests advance. Every test runs in both durability
modes (COLLECTOR_SPOOL_FSYNC): the replays must not depend on when the disk was synced.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from collector.aggregates.connection import connect
from collector.aggregates.keys import Keys
from collector.aggregates.writer import ReportStore
from collector.durable.ingest import Ingestor, Unavailable
from collector.durable.progress import Kicks
from collector.durable.retention import REPLAY_WINDOW_S
from collector.durable.sink import decode
from collector.durable.spool import Spool
from collector.server.embedded import RedisServer
from tests.helpers import report

MODE = {"fsync": "always"}


@pytest.fixture(autouse=True, params=["interval", "always"])
def mode(request: pytest.FixtureRequest) -> Iterator[str]:
    """The spool's durability mode for every Ingestor ``make`` builds in this test."""
    MODE["fsync"] = request.param
    yield request.param
    MODE["fsync"] = "always"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    s = RedisServer(tmp_path / "redis", appendonly=True).start()
    yield s
    s.stop()


class Clock:
    """Monotonic time that passes only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def turn(ing: Ingestor, clock: Clock, seconds: float = 1.5) -> None:
    """Let ``seconds`` pass, then one turn of the writer loop runs the duties now due."""
    clock.now += seconds
    ing.run_once()


def make(server: RedisServer, tmp_path: Path, owner: str = "w1", clock: Clock | None = None,
         **kw: int) -> Ingestor:
    client = connect(server.url, 0.5)
    store = ReportStore(client, Keys("pc"), retention_s=86400, host_cap=kw.get("cap", 200))
    spool = Spool(tmp_path / "spool", owner=owner,
                  max_bytes=kw.get("max_bytes", 64 * 2**20), fsync=MODE["fsync"])
    return Ingestor(store, spool, owner, clock=clock or Clock(),
                    outbox_max=kw.get("outbox_max", 20_000))


def counted(server: RedisServer) -> int:
    client = redis.Redis.from_url(server.url)
    return int(client.hget("pc:{g}:totals", "reports") or 0)


def host_reports(server: RedisServer, host: str = "api.example.com") -> int:
    client = redis.Redis.from_url(server.url)
    return int(client.hget(Keys("pc").host(host).meta, "reports") or 0)


def drive(ing: Ingestor, steps: int = 50) -> None:
    for _ in range(steps):
        ing.step(wait=0.001)
        if not ing.pending() and not ing.failed:
            return


def test_accepted_reports_reach_redis_in_batches(server: RedisServer, tmp_path: Path) -> None:
    ing = make(server, tmp_path)
    for i in range(30):
        assert ing.submit(report(i)) == "spool"
    drive(ing)
    assert counted(server) == 30
    assert host_reports(server) == 30


def test_redis_killed_then_restarted_counts_each_report_once(
        server: RedisServer, tmp_path: Path) -> None:
    ing = make(server, tmp_path)
    for i in range(10):
        ing.submit(report(i))
    drive(ing)
    server.process.kill()  # type: ignore[union-attr]
    server.process.wait()  # type: ignore[union-attr]
    for i in range(10, 25):
        assert ing.submit(report(i)) == "spool"  # still 204: the spool holds them
    ing.step(wait=0.001)
    assert ing.failed
    server.start()
    for _ in range(20):
        ing.step(wait=0.001)
        if not ing.failed:
            break
    drive(ing)
    assert not ing.failed
    assert counted(server) == 25
    assert host_reports(server) == 25


def test_restart_that_lost_acknowledged_writes_is_replayed(tmp_path: Path) -> None:
    """No AOF: a restart loses everything; the retained window puts it back, once."""
    server = RedisServer(tmp_path / "redis", appendonly=False).start()
    try:
        clock = Clock()
        ing = make(server, tmp_path, clock=clock)
        for i in range(12):
            ing.submit(report(i))
        drive(ing)
        turn(ing, clock)  # the restart check remembers the run id
        assert counted(server) == 12
        server.stop()
        server.start()
        assert counted(server) == 0
        turn(ing, clock)  # the restart check sees a new run id
        assert ing.failed
        drive(ing)
        drive(ing)
        assert counted(server) == 12
        turn(ing, clock)
        ing.recover()  # a second replay is a no-op
        assert counted(server) == 12
    finally:
        server.stop()


def test_lost_reply_replay_is_not_double_counted(server: RedisServer, tmp_path: Path) -> None:
    ing = make(server, tmp_path)
    for i in range(5):
        ing.submit(report(i))
    drive(ing)
    # As if the replies had been lost: the writer fails and replays everything it kept.
    ing.fail("TimeoutError")
    drive(ing)
    assert counted(server) == 5
    assert ing.stats.replayed >= 5


def test_orphan_segments_of_a_dead_worker_are_replayed(
        server: RedisServer, tmp_path: Path) -> None:
    dead = make(server, tmp_path, owner="dead")
    dead.failed = True  # never reaches Redis: its records stay in its segment
    for i in range(7):
        dead.submit(report(i))
    dead.spool.close()  # the process is gone: its owner lock is released
    alive = make(server, tmp_path, owner="alive")
    assert alive.replay_orphans() == 7
    assert counted(server) == 7
    assert alive.replay_orphans() == 0


def test_live_workers_segments_are_not_taken(server: RedisServer, tmp_path: Path) -> None:
    busy = make(server, tmp_path, owner="busy")
    busy.failed = True
    for i in range(3):
        busy.submit(report(i))
    busy.spool.rotate()
    other = make(server, tmp_path, owner="other")
    assert other.replay_orphans() == 0
    assert counted(server) == 0


def test_full_spool_writes_directly_and_503_only_when_both_fail(
        server: RedisServer, tmp_path: Path) -> None:
    ing = make(server, tmp_path, max_bytes=1)
    assert ing.submit(report(1)) == "redis"
    assert counted(server) == 1
    server.stop()
    with pytest.raises(Unavailable):
        ing.submit(report(2))
    assert ing.stats.refused == 1


def test_poison_key_dead_letters_without_partial_host_writes(
        server: RedisServer, tmp_path: Path) -> None:
    client = redis.Redis.from_url(server.url)
    hk = Keys("pc").host("poison.example.com")
    client.set(hk.chains, "not a zset")
    ing = make(server, tmp_path)
    ing.submit(report(1, host="poison.example.com"))
    ing.submit(report(2))
    drive(ing)
    assert client.hget(hk.meta, "reports") is None  # nothing half-written for that host
    assert host_reports(server) == 1
    assert counted(server) == 1  # the poisoned report is not in the global totals either
    assert ing.stats.dead_lettered == 1
    assert (tmp_path / "spool" / "dead-letter.ndjson").read_text().count("\n") == 1


def test_a_dead_lettered_last_record_is_acknowledged(server: RedisServer, tmp_path: Path) -> None:
    """The batch's last record poisoned (or all of them): its sequence is still settled, so a
    read after the 204 does not wait out its timeout and the writer does not stall."""
    client = redis.Redis.from_url(server.url)
    client.set(Keys("pc").host("poison.example.com").chains, "not a zset")
    ing = make(server, tmp_path)
    ing.submit(report(1))
    ing.submit(report(2, host="poison.example.com"))
    drive(ing)
    assert ing.stats.dead_lettered == 1
    assert not ing.pending() and not ing.failed
    assert ing.settle(0.5)
    ing.submit(report(3, host="poison.example.com"))  # a batch of nothing but poison
    drive(ing)
    assert ing.stats.dead_lettered == 2
    assert not ing.pending() and not ing.failed
    assert counted(server) == 1


def test_sealed_segments_are_dropped_once_acknowledged(
        server: RedisServer, tmp_path: Path) -> None:
    clock = Clock()
    ing = make(server, tmp_path, clock=clock)
    for i in range(4):
        ing.submit(report(i))
    drive(ing)
    turn(ing, clock)  # sealed
    turn(ing, clock, REPLAY_WINDOW_S + 1)  # and past the replay window
    assert ing.spool.own_sealed() == []
    assert counted(server) == 4


def test_reports_survive_a_close_and_are_replayed_by_the_next_worker(
        server: RedisServer, tmp_path: Path) -> None:
    first = make(server, tmp_path, owner="first")
    first.failed = True
    first.submit(report(1))
    first.close()
    second = make(server, tmp_path, owner="second")
    second.replay_orphans()
    assert counted(server) == 1


def test_a_failure_without_restart_replays_only_unconfirmed_segments(
        server: RedisServer, tmp_path: Path) -> None:
    clock = Clock()
    ing = make(server, tmp_path, clock=clock)
    for i in range(10):
        ing.submit(report(i))
    drive(ing)
    turn(ing, clock)  # run id remembered; sealed, and every record in it acknowledged
    ing.submit(report(10))  # not yet written when the failure hits
    ing.fail("TimeoutError")
    drive(ing)
    assert ing.stats.replayed == 1
    assert counted(server) == 11


def test_a_full_outbox_catches_up_from_disk_exactly_once(
        server: RedisServer, tmp_path: Path) -> None:
    """Redis slower than the intake: memory holds at most outbox_max records; the rest is
    replayed from the segments, in order, and nothing is counted twice."""
    ing = make(server, tmp_path, outbox_max=5)
    for i in range(4):
        ing.submit(report(i))
    ing.step(wait=0.001)  # 4 in Redis
    for i in range(4, 20):  # the 6th queued record overflows: the outbox is dropped
        assert ing.submit(report(i)) == "spool"
        assert ing.pending() <= 5
    assert ing.behind and ing.stats.overflows == 1
    drive(ing)  # catch-up replay, then the outbox again
    assert not ing.behind and not ing.failed
    for i in range(20, 23):
        ing.submit(report(i))
    drive(ing)
    assert counted(server) == 23 and host_reports(server) == 23
    assert ing.stats.overflows == 1


def test_interval_mode_syncs_in_the_background_and_on_close(
        server: RedisServer, tmp_path: Path, mode: str) -> None:
    ing = make(server, tmp_path)
    assert (ing.flusher is not None) == (mode == "interval")
    ing.start()
    try:
        ing.submit(report(1))
        assert ing.flush(10)
    finally:
        ing.close()
    assert ing.spool.durable == ing.spool.written > 0  # sealed on close in either mode
    assert counted(server) == 1


def test_concurrent_submits_are_spooled_in_sequence_order_and_counted_once(
        server: RedisServer, tmp_path: Path) -> None:
    """Request threads stamp, write and queue under one lock: file order, sequence order
    and the writer's order agree, which the high-water marks rely on."""
    ing = make(server, tmp_path)
    ing.start()
    try:
        threads = [threading.Thread(target=lambda t=t: [ing.submit(report(t * 100 + i))
                                                        for i in range(40)])
                   for t in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert ing.flush(20)
        name = ing.spool.rotate()
        assert name is not None
        seqs = [decode(r).seq for r in ing.spool.records(name)]
        assert seqs == list(range(1, 321))
    finally:
        ing.close()
    assert counted(server) == 320


def test_a_read_in_another_worker_ends_the_writers_linger(
        server: RedisServer, tmp_path: Path) -> None:
    """Batches linger to grow, but a read after a 204 must not wait the linger out, even
    when another worker serves the read: its settle() kicks every writer of the spool."""
    lingering = Ingestor(make(server, tmp_path, owner="took").store,
                         Spool(tmp_path / "spool", owner="took"), "took", linger=60.0)
    reader = make(server, tmp_path, owner="reads")
    lingering.start()
    try:
        lingering.submit(report(1))
        assert reader.settle(timeout=20)  # without the kick: False after 20 s
        assert counted(server) == 1
    finally:
        lingering.close()


def test_kicks_are_seen_once_per_change(tmp_path: Path) -> None:
    seen = Kicks(str(tmp_path))
    assert not seen.kicked()
    Kicks.kick(str(tmp_path))
    Kicks.kick(str(tmp_path))
    assert seen.kicked() and not seen.kicked()
    seen.close()
