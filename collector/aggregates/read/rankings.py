"""The global rankings, spread over the shards ``{g:T}`` and merged here.

A hostname's members live in one shard, a chain's in one shard (``keys.shard_index``), so a
ranking is the concatenation of its shards' members: no ZUNION across slots (which a Redis
Cluster refuses), one pipeline over the shards instead. The merged order is the one a single
sorted set would give (score descending, then member descending), so offsets and cursors page
as they did over one key.

Without a window a page reads the top ``offset + limit + 1`` of each shard, so its cost
depends on the offset and limit, never on the number of members. With a window the ranking
is the union of the daily rankings the window touches (day resolution; each shard's union is
one ZUNION within its slot), paged in memory. A member whose rank changes between two pages
may appear twice or be skipped, as with any offset.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from redis.exceptions import ResponseError

from collector.aggregates import scripts
from collector.aggregates.keys import ShardKeys
from collector.aggregates.read.context import ReadContext
from collector.aggregates.read.replies import pairs, ranked, text, zrevrange_raw, zunion_raw
from collector.aggregates.read.windows import Window, stamp, window_days

_UNION_TOP = scripts.bare("union_top")
Page = tuple[list[tuple[str, int]], list[str], bool]
Rows = list[tuple[str, int]]


@dataclass(frozen=True)
class Ranking:
    """Which sorted set of each shard, and which daily one."""

    key: Callable[[ShardKeys], str]
    day_key: Callable[[ShardKeys, str], str]


HOSTS = Ranking(lambda s: s.hosts, lambda s, d: s.day_hosts(d))
HOSTS_LAST = Ranking(lambda s: s.hosts_last, lambda s, d: s.day_hosts(d))
HOSTS_FAILING = Ranking(lambda s: s.hosts_failing, lambda s, d: s.day_failing(d))
HOSTS_BREAKING = Ranking(lambda s: s.hosts_breaking, lambda s, d: s.day_breaking(d))
CHAINS = Ranking(lambda s: s.chains, lambda s, d: s.day_chains(d))


def ordered(rows: Rows) -> Rows:
    """A single sorted set's order: score descending, ties by member descending."""
    return sorted(rows, key=lambda p: (p[1], p[0]), reverse=True)


def _shards(ctx: ReadContext) -> tuple[ShardKeys, ...]:
    return ctx.keys.glob.shards


def queue_top(pipe: Any, ctx: ReadContext, ranking: Ranking, n: int) -> int:
    """Queue each shard's top ``n`` (all with n < 0); returns how many replies to pass to
    ``merge_top``."""
    for s in _shards(ctx):
        pipe.zrevrange(ranking.key(s), 0, n - 1 if n > 0 else -1, withscores=True)
    return len(_shards(ctx))


def merge_top(replies: list[Any], n: int) -> Rows:
    """The first ``n`` (all with n < 0) of the merged ranking from ``queue_top``'s replies."""
    rows = ordered([p for r in replies for p in ranked(r)])
    return rows if n < 0 else rows[:n]


def top(ctx: ReadContext, ranking: Ranking, n: int) -> Rows:
    """The merged ranking's first ``n`` members (all of them with n < 0)."""
    with ctx.client.pipeline(transaction=False) as pipe:
        queue_top(pipe, ctx, ranking, n)
        return merge_top(pipe.execute(), n)


def queue_count(pipe: Any, ctx: ReadContext, ranking: Ranking) -> int:
    for s in _shards(ctx):
        pipe.zcard(ranking.key(s))
    return len(_shards(ctx))


def count(ctx: ReadContext, ranking: Ranking) -> int:
    """Members of the ranking (each is in one shard)."""
    with ctx.client.pipeline(transaction=False) as pipe:
        queue_count(pipe, ctx, ranking)
        return sum(int(c) for c in pipe.execute())


def union(ctx: ReadContext, ranking: Ranking, days: list[str]) -> Rows:
    """The daily rankings of ``days`` summed, merged over the shards, in ranking order."""
    return ordered(union_rows(ctx, ranking, days))


def union_rows(ctx: ReadContext, ranking: Ranking, days: list[str]) -> Rows:
    """``union`` in no order."""
    return [(text(m), int(n)) for m, n in union_raw(ctx, ranking, days)]


def union_raw(ctx: ReadContext, ranking: Ranking, days: list[str]) -> list[tuple[bytes, float]]:
    """``union`` in no order and undecoded: for a count or a top few of 10 k members, sorting
    and decoding them all is the cost (bytes order as their UTF-8 text does)."""
    if not days:
        return []
    with ctx.client.pipeline(transaction=False) as pipe:
        for s in _shards(ctx):
            zunion_raw(pipe, [ranking.day_key(s, d) for d in days])
        return [p for r in pipe.execute() for p in pairs(r)]


def union_top(ctx: ReadContext, ranking: Ranking, days: list[str], n: int) \
        -> tuple[int, list[tuple[bytes, float]]]:
    """The size of ``union`` and its first ``n`` members (most first, ties by name), made in
    Redis by one script per shard (``lua/union_top.lua``): at 10 k members a day, sending the
    whole union to Python and ranking it there cost more than the union itself. Where the
    script cannot run (Redis out of memory for its scratch key), the union is read instead."""
    if not days or n <= 0:
        return (len(union_raw(ctx, ranking, days)) if days else 0), []
    script = ctx.client.register_script(_UNION_TOP)
    size, rows = 0, []
    try:
        for s in _shards(ctx):
            got, flat = script(keys=[s.union_scratch, *(ranking.day_key(s, d) for d in days)],
                               args=[n], client=ctx.client)
            size += int(got)
            rows += pairs(flat)
    except ResponseError:
        rows = union_raw(ctx, ranking, days)
        size = len(rows)
    return size, heapq.nsmallest(n, rows, key=by_count)


def by_count(row: tuple[bytes, float]) -> tuple[float, bytes]:
    """Most reports first, ties by name (bytes order as their UTF-8 text does)."""
    return -row[1], row[0]


def scores(client: Any, ranking: Ranking, members: list[str],
           shard_of: Callable[[str], ShardKeys]) -> list[float | None]:
    """Each member's score in the ranking (None: not ranked), read in its own shard (one
    pipeline)."""
    if not members:
        return []
    groups: dict[str, list[int]] = {}
    for i, m in enumerate(members):
        groups.setdefault(ranking.key(shard_of(m)), []).append(i)
    out: list[float | None] = [None] * len(members)
    with client.pipeline(transaction=False) as pipe:
        for key, ix in groups.items():
            pipe.zmscore(key, [members[i] for i in ix])
        for ix, found in zip(groups.values(), pipe.execute(), strict=True):
            for i, score in zip(ix, found, strict=True):
                out[i] = score
    return out


class Merged:
    """``fetch(start, count)`` over a ranking without a window, for scans that ask several
    pages in a row (the class-filtered lists). Each shard is read on from where it stopped,
    a share of what is missing at a time, and rows are only handed out up to the point every
    unfinished shard has been read past: a scan of the first k members reads about k rows in
    all, not k from each shard."""

    def __init__(self, ctx: ReadContext, ranking: Ranking) -> None:
        self.ctx, self.ranking = ctx, ranking
        self._read = [0] * len(_shards(ctx))  # rows read from each shard
        self._last: list[tuple[float, bytes] | None] = [None] * len(self._read)
        self._done = [False] * len(self._read)
        self._pending: list[tuple[float, bytes]] = []  # read, not yet certain of its place
        self._merged: Rows = []  # in ranking order, final

    def fetch(self, start: int, count: int) -> Rows:
        end = start + count
        while len(self._merged) < end and (self._pending or not all(self._done)):
            if not all(self._done):
                self._read_more(end - len(self._merged))
            self._settle()
        return self._merged[start:end]

    def _read_more(self, missing: int) -> None:
        shards = _shards(self.ctx)
        todo = [i for i, done in enumerate(self._done) if not done]
        chunk = max(16, -(-missing * 5 // (4 * len(shards))))  # a quarter more than a share
        with self.ctx.client.pipeline(transaction=False) as pipe:
            for i in todo:
                zrevrange_raw(pipe, self.ranking.key(shards[i]), self._read[i],
                              self._read[i] + chunk - 1)
            for i, reply in zip(todo, pipe.execute(), strict=True):
                got = pairs(reply)
                self._read[i] += len(got)
                self._done[i] = len(got) < chunk
                if got:
                    self._last[i] = (got[-1][1], got[-1][0])
                self._pending += [(n, m) for m, n in got]

    def _settle(self) -> None:
        """Move the pending rows that rank at or above every unfinished shard's last row read
        (that shard's unread rows all rank below it) to the merged ranking."""
        self._pending.sort(reverse=True)
        floors = [self._last[i] for i, done in enumerate(self._done) if not done]
        if any(f is None for f in floors):
            return
        floor = max((f for f in floors if f is not None), default=None)
        cut = len(self._pending) if floor is None else \
            sum(1 for row in self._pending if row >= floor)  # a prefix: pending is sorted
        self._merged += [(text(m), int(n)) for n, m in self._pending[:cut]]
        del self._pending[:cut]


def page(ctx: ReadContext, ranking: Ranking, window: Window, offset: int, limit: int) -> Page:
    """(member, score) for one page, the window's day stamps, and whether more follow."""
    if not window.bounded:
        rows = top(ctx, ranking, offset + limit + 1)[offset:]
        return rows[:limit], [], len(rows) > limit
    days = [stamp(d) for d in window_days(ctx, window)]
    if not days:
        return [], [], False
    merged = union(ctx, ranking, days)
    return merged[offset:offset + limit], days, len(merged) > offset + limit


def seen_since(ctx_client: Any, shards: tuple[ShardKeys, ...], floor_ms: int,
               page_size: int) -> Iterator[list[str]]:
    """Every hostname last seen at or after ``floor_ms``, a page at a time (shard by shard,
    latest first in each): for jobs that visit every recent host (``alerts``)."""
    for s in shards:
        start = 0
        while True:
            found: Any = ctx_client.zrevrangebyscore(s.hosts_last, "+inf", floor_ms,
                                                     start=start, num=page_size)
            if not found:
                break
            yield [text(m) for m in found]
            if len(found) < page_size:
                break
            start += page_size


def latest_hosts(client: Any, shards: tuple[ShardKeys, ...], floor_ms: int,
                 n: int) -> list[str]:
    """The ``n`` hostnames seen most recently, at or after ``floor_ms``."""
    with client.pipeline(transaction=False) as pipe:
        for s in shards:
            pipe.zrevrangebyscore(s.hosts_last, "+inf", floor_ms, start=0, num=n,
                                  withscores=True)
        rows = ordered([p for r in pipe.execute() for p in ranked(r)])
    return [h for h, _ in rows[:n]]
