"""The global rankings merged over their shards (read/rankings.py): the incremental merge the
filtered scans page through, and the windowed union's size and top computed in Redis."""

from __future__ import annotations

import heapq
import random

import pytest
import redis

from collector import wiring
from collector.aggregates.read import rankings
from collector.aggregates.read.context import ReadContext
from collector.config import Settings

DAYS = ["20261125", "20261126", "20261127"]


def _fill(rdb: redis.Redis, ctx: ReadContext, ranking: rankings.Ranking, day: str | None,
          rows: dict[str, int]) -> None:
    g = ctx.keys.glob
    for member, score in rows.items():
        shard = g.of_host(member)
        rdb.zadd(ranking.key(shard) if day is None else ranking.day_key(shard, day),
                 {member: score})


@pytest.fixture
def ctx(settings: Settings) -> ReadContext:
    return wiring.reader(settings)


def test_the_merge_pages_like_one_sorted_set(rdb: redis.Redis, ctx: ReadContext) -> None:
    rng = random.Random(7)
    rows = {f"h{i:04d}.example.com": rng.choice([1, 2, 2, 3, 50, rng.randint(1, 900)])
            for i in range(1500)}  # many ties, across every shard
    _fill(rdb, ctx, rankings.HOSTS, None, rows)
    expected = rankings.ordered(list(rows.items()))
    for sizes in ([1500], [1, 2, 250, 251, 1000], [16] * 100, [700, 900]):
        merged, pos, got = rankings.Merged(ctx, rankings.HOSTS), 0, []
        for n in sizes:
            got += merged.fetch(pos, n)
            pos += n
        assert got == expected[:pos], sizes
    # reading 300 members reads about 300 rows, not 300 from each of the 8 shards
    merged = rankings.Merged(ctx, rankings.HOSTS)
    assert merged.fetch(0, 300) == expected[:300]
    assert sum(merged._read) < 2 * 300


def test_an_empty_ranking_merges_to_nothing(ctx: ReadContext) -> None:
    assert rankings.Merged(ctx, rankings.CHAINS).fetch(0, 50) == []


def _expected(rows_by_day: list[dict[str, int]], n: int) -> tuple[int, list[tuple[str, int]]]:
    total: dict[str, int] = {}
    for rows in rows_by_day:
        for m, s in rows.items():
            total[m] = total.get(m, 0) + s
    top = heapq.nsmallest(n, total.items(), key=lambda p: (-p[1], p[0]))
    return len(total), top


def _union_top(ctx: ReadContext, days: list[str], n: int) -> tuple[int, list[tuple[str, int]]]:
    size, rows = rankings.union_top(ctx, rankings.HOSTS, days, n)
    return size, [(m.decode(), int(s)) for m, s in rows]


def test_the_union_top_is_the_union_ranked(rdb: redis.Redis, ctx: ReadContext) -> None:
    rng = random.Random(3)
    by_day = []
    for day in DAYS:
        rows = {f"h{rng.randint(0, 400):03d}.example.org": rng.choice([1, 1, 2, 5, 40])
                for _ in range(300)}
        _fill(rdb, ctx, rankings.HOSTS, day, rows)
        by_day.append(rows)
    for n in (1, 3, 10, 37, 10_000):
        assert _union_top(ctx, DAYS, n) == _expected(by_day, n), n
        # one day held: read as it is, same answer
        assert _union_top(ctx, [DAYS[0], "20261001"], n) == _expected(by_day[:1], n), n
    assert _union_top(ctx, ["20261001"], 10) == (0, [])
    assert _union_top(ctx, [], 10) == (0, [])
    assert not list(rdb.scan_iter("*scratch*"))  # the scratch keys never outlive a call


def test_the_union_top_falls_back_to_reading_when_redis_refuses_writes(
        rdb: redis.Redis, ctx: ReadContext) -> None:
    by_day = [{"a.example": 3, "b.example": 1}, {"b.example": 5, "c.example": 1}]
    for day, rows in zip(DAYS, by_day, strict=False):
        _fill(rdb, ctx, rankings.HOSTS, day, rows)
    policy = rdb.config_get("maxmemory-policy")["maxmemory-policy"]
    rdb.config_set("maxmemory-policy", "noeviction")
    rdb.config_set("maxmemory", 1)
    try:
        with pytest.raises(redis.ResponseError):  # the scratch key cannot be written
            rdb.zunionstore("pc:{g:0}:probe", ["pc:{g:0}:none"])
        assert _union_top(ctx, DAYS[:2], 2) == (3, [("b.example", 6), ("a.example", 3)])
    finally:
        rdb.config_set("maxmemory", 0)
        rdb.config_set("maxmemory-policy", policy)
