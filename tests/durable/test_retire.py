"""Retention from the writer loop: the trim job, and dead writers' idempotency marks dropped
only once none of their records can be replayed, so that no replay ever counts twice.

Ingestors are driven step by step against a real redis-server; the writer loop's timed
duties fall due on a monotonic clock, and the retention cutoffs on a wall clock, both moved
by the tests.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from collector.aggregates.connection import connect
from collector.aggregates.keys import Keys
from collector.aggregates.retention import EVERY_S
from collector.aggregates.writer import ReportStore, StorageUnavailable
from collector.durable.ingest import Ingestor
from collector.durable.retention import REPLAY_WINDOW_S
from collector.durable.spool import Spool
from collector.server.embedded import RedisServer
from tests.helpers import report

RETENTION_S = 86_400
HOST = "api.example.com"
KEYS = Keys("pc")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    s = RedisServer(tmp_path / "redis", appendonly=True).start()
    yield s
    s.stop()


@pytest.fixture
def rdb(server: RedisServer) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(server.url)
    yield client
    client.close()


class Clock:
    """Time that passes only when a test says so (monotonic or wall)."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make(server: RedisServer, tmp_path: Path, owner: str, clock: Clock | None = None,
         wall: Clock | None = None) -> Ingestor:
    store = ReportStore(connect(server.url, 0.5), KEYS, retention_s=RETENTION_S, host_cap=200)
    spool = Spool(tmp_path / "spool", owner=owner)
    return Ingestor(store, spool, owner, clock=clock or Clock(), wall=wall or time.time)


def turn(ing: Ingestor, clock: Clock, seconds: float) -> None:
    clock.now += seconds
    ing.run_once()


def drive(ing: Ingestor) -> None:
    for _ in range(50):
        ing.step(wait=0.001)
        if not ing.pending() and not ing.failed:
            return


def counted(rdb: redis.Redis) -> tuple[int, int]:
    """(global total, the host's reports)."""
    return (int(rdb.hget(KEYS.glob.totals, "reports") or 0),
            int(rdb.hget(KEYS.host(HOST).meta, "reports") or 0))


def fields(rdb: redis.Redis, key: str) -> set[str]:
    return {f.decode() for f in rdb.hkeys(key)}


def retired(rdb: redis.Redis) -> set[str]:
    return {m.decode() for m in rdb.zrange(KEYS.glob.retired(), 0, -1)}


def segments(tmp_path: Path, owner: str) -> list[str]:
    return [n for n in os.listdir(tmp_path / "spool") if n.startswith(f"{owner}.")
            and n.endswith(".seg")]


def test_the_trim_job_runs_from_the_writer_loop(
        server: RedisServer, rdb: redis.Redis, tmp_path: Path) -> None:
    clock, wall = Clock(), Clock(time.time())
    ing = make(server, tmp_path, "w", clock, wall)
    ing.submit(report(1))
    drive(ing)
    shard = KEYS.glob.of_host(HOST)  # the host's global rankings live in its shard
    assert rdb.zscore(shard.hosts, HOST) == 1.0
    wall.now += RETENTION_S + 60  # the host has not been seen for longer than the retention
    turn(ing, clock, EVERY_S / 2)
    assert rdb.zscore(shard.hosts, HOST) == 1.0  # the job is not due yet
    turn(ing, clock, EVERY_S / 2 + 1)
    assert rdb.zscore(shard.hosts, HOST) is None
    assert rdb.zscore(shard.hosts_last, HOST) is None
    assert sum(rdb.zcard(s.chains) for s in KEYS.glob.shards) == 0
    assert counted(rdb) == (1, 1)  # the counts themselves are not retention's business
    ing.close()


def test_dead_writers_marks_go_only_once_its_segments_are_gone(
        server: RedisServer, rdb: redis.Redis, tmp_path: Path) -> None:
    dead = make(server, tmp_path, "dead")
    for i in range(5):
        dead.submit(report(i))
    drive(dead)
    dead.close()  # the process is gone; its (acknowledged) segment stays for a replay
    assert segments(tmp_path, "dead")
    assert counted(rdb) == (5, 5)
    alive = make(server, tmp_path, "alive")

    # Another drainer holds the spool: the dead writer's segment is still there.
    lock = os.open(tmp_path / "spool" / "drain.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        assert alive.replay_orphans() == 0
    finally:
        os.close(lock)
    assert segments(tmp_path, "dead")
    assert "dead" in fields(rdb, KEYS.glob.applied)
    assert retired(rdb) == set()

    # The replay (a no-op: every record is marked applied) deletes it; then the marks go.
    assert alive.replay_orphans() == 5
    assert counted(rdb) == (5, 5)
    assert segments(tmp_path, "dead") == []
    assert "dead" not in fields(rdb, KEYS.glob.applied)
    assert retired(rdb) == {"dead", "dead.d"}
    host_applied = KEYS.host(HOST).applied
    assert "dead" in fields(rdb, host_applied)  # until the host is written again
    alive.submit(report(9))
    drive(alive)
    assert fields(rdb, host_applied) == {"alive"}
    assert counted(rdb) == (6, 6)

    # Nothing replayed after that counts twice: a lost reply, a Redis restart, more scans.
    alive.fail("TimeoutError")
    drive(alive)
    assert alive.replay_orphans() == 0
    server.stop()
    server.start()
    clock = alive.clock
    assert isinstance(clock, Clock)
    turn(alive, clock, 2)  # the restart check fails the writer; recovery replays its window
    drive(alive)
    drive(alive)
    assert not alive.failed
    assert counted(redis.Redis.from_url(server.url)) == (6, 6)
    alive.close()


def test_a_live_writer_is_never_retired_even_with_no_segment_left(
        server: RedisServer, rdb: redis.Redis, tmp_path: Path) -> None:
    clock = Clock()
    busy = make(server, tmp_path, "busy", clock)
    busy.submit(report(1))
    drive(busy)
    turn(busy, clock, 1.5)  # sealed
    turn(busy, clock, REPLAY_WINDOW_S + 1)  # and dropped: no segment left, lock still held
    assert segments(tmp_path, "busy") == []
    other = make(server, tmp_path, "other")
    other.replay_orphans()
    assert "busy" in fields(rdb, KEYS.glob.applied)
    assert retired(rdb) == set()
    busy.close()
    other.replay_orphans()  # now it is gone: retired
    assert retired(rdb) == {"busy", "busy.d"}
    other.close()


def test_dropping_a_mark_while_its_segments_remain_would_count_twice(
        server: RedisServer, rdb: redis.Redis, tmp_path: Path) -> None:
    """Why retirement waits for the segments: the guard this file's other tests check."""
    dead = make(server, tmp_path, "dead")
    for i in range(5):
        dead.submit(report(i))
    drive(dead)
    dead.close()
    alive = make(server, tmp_path, "alive")
    alive.janitor.retire(["dead"])  # too early, on purpose: its global mark goes
    alive.replay_orphans()
    assert counted(rdb) == (10, 5)  # the replay counts the five again in the global slot
    alive.close()


def test_a_retirement_redis_missed_is_sent_again(
        server: RedisServer, rdb: redis.Redis, tmp_path: Path) -> None:
    clock = Clock()
    gone = make(server, tmp_path, "gone", clock)
    gone.submit(report(1))
    drive(gone)
    turn(gone, clock, 1.5)
    turn(gone, clock, REPLAY_WINDOW_S + 1)  # no segment left
    gone.close()
    other = make(server, tmp_path, "other")
    server.stop()
    with pytest.raises(StorageUnavailable):
        other.replay_orphans()  # the drain swept its lock file: the spool forgets it
    assert not (tmp_path / "spool" / "gone.owner").exists()
    server.start()
    other.janitor.run()
    assert retired(redis.Redis.from_url(server.url)) == {"gone", "gone.d"}
    other.close()
