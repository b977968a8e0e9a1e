"""Retention against a real Redis: stale hosts and chains leave the rankings, a bounded number
per call, and retired writers' marks leave every ``applied`` hash.

The janitor's wall clock is a value the tests move; Redis TTLs are left alone, so what is
checked is the trimming by score, not expiry.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import redis

from collector.aggregates.connection import connect
from collector.aggregates.keys import Keys, shard_index
from collector.aggregates.retention import BUSY_S, EVERY_S, FORGET_MARGIN_S, LIMIT, Janitor
from collector.aggregates.writer import ReportStore, Stamped
from collector.intake import formats
from collector.intake.report import Report
from tests.helpers import CHROME_FP, IOS_FP, public_trust_ios, report

PREFIX = "pc"
DAY = 86_400
R_DAYS = 90
T0 = 1_700_000_000.0  # when the first reports arrive (unix s)


class Wall:
    """A wall clock that moves only when a test says so."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def store(url: str) -> ReportStore:
    return ReportStore(connect(url, 1.0), Keys(PREFIX), retention_s=R_DAYS * DAY, host_cap=200)


def at(seconds: float, host: str, *, chrome: bool = False, **changes: Any) -> Report:
    """A report for ``host`` received at ``seconds`` (unix s)."""
    if chrome:
        doc = public_trust_ios(hostname=host)
        r = formats.build(doc, received_ms=int(seconds * 1000), secret=b"s", client_addr=None)
    else:
        r = dataclasses.replace(report(1, host), received_ms=int(seconds * 1000))
    return dataclasses.replace(r, **changes)


def stamp(reports: list[Report], writer: str = "w", start: int = 1) -> list[Stamped]:
    return [Stamped(r, writer, start + i) for i, r in enumerate(reports)]


def members(rdb: redis.Redis, key: str) -> set[str]:
    return {m.decode() for m in rdb.zrange(key, 0, -1)}


def fields(rdb: redis.Redis, key: str) -> set[str]:
    return {f.decode() for f in rdb.hkeys(key)}


def ranked(rdb: redis.Redis, what: str) -> set[str]:
    """The members of one global ranking over every shard."""
    return {m for s in Keys(PREFIX).glob.shards for m in members(rdb, getattr(s, what))}


def in_shard(name: str, n: int, index: int = 0) -> list[str]:
    """n names (``name`` formatted with 0, 1, ...) that all live in shard ``index``."""
    out, i = [], 0
    while len(out) < n:
        if shard_index(name.format(i)) == index:
            out.append(name.format(i))
        i += 1
    return out


def test_hosts_and_chains_not_seen_for_the_retention_leave_every_ranking(
        rdb: redis.Redis, redis_server: Any) -> None:
    st = store(redis_server.url)
    wall = Wall()
    janitor = Janitor(st, wall=wall)
    g = Keys(PREFIX).glob
    st.write(stamp([
        # failing now: an enforcing client on a public-trust pair, on a chain seen only here
        at(T0, "old-failing.example.com", chrome=True, classification="public-trust",
           enforce=True),
        # at risk: a report-only client on a public-trust pair
        at(T0, "old-breaking.example.com", classification="public-trust", enforce=False),
        at(T0 + 60 * DAY, "recent.example.com"),
    ]))
    everyone = {"old-failing.example.com", "old-breaking.example.com", "recent.example.com"}
    assert ranked(rdb, "hosts") == ranked(rdb, "hosts_last") == everyone
    assert ranked(rdb, "hosts_failing") == {"old-failing.example.com"}
    assert ranked(rdb, "hosts_breaking") == {"old-breaking.example.com"}
    assert ranked(rdb, "chains") == ranked(rdb, "chains_last") == {IOS_FP, CHROME_FP}
    assert members(rdb, g.chain_hosts(IOS_FP)) == {"old-breaking.example.com",
                                                   "recent.example.com"}

    wall.now = T0 + (R_DAYS - 1) * DAY  # not yet: everything stays
    assert janitor.trim().hosts == 0
    assert ranked(rdb, "hosts") == everyone

    wall.now = T0 + (R_DAYS + 1) * DAY
    done = janitor.trim()
    assert (done.hosts, done.chains, done.busy) == (2, 1, False)
    recent = {"recent.example.com"}
    assert ranked(rdb, "hosts") == ranked(rdb, "hosts_last") == recent
    assert ranked(rdb, "hosts_failing") == ranked(rdb, "hosts_breaking") == set()
    # the iOS chain was seen recently (by the recent host), the Chromium one only long ago
    assert ranked(rdb, "chains") == ranked(rdb, "chains_last") == {IOS_FP}
    # a host that left the rankings leaves the host lists of the chains still ranked
    assert members(rdb, g.chain_hosts(IOS_FP)) == recent
    assert done.chain_hosts >= 1
    assert rdb.zscore(g.of_host("recent.example.com").hosts, "recent.example.com") == 1.0

    wall.now = T0 + (R_DAYS + 61) * DAY  # and the recent host's turn comes too
    janitor.trim()
    assert ranked(rdb, "hosts") == ranked(rdb, "chains") == set()


def seed(rdb: redis.Redis, key: str, n: int, score: float, name: str = "h{}") -> list[str]:
    names = [name.format(i) for i in range(n)]
    rdb.zadd(key, {m: score for m in names})
    return names


def test_each_call_does_bounded_work_and_a_backlog_is_called_again_soon(
        rdb: redis.Redis, redis_server: Any) -> None:
    st = store(redis_server.url)
    wall = Wall(T0 + (R_DAYS + 1) * DAY)
    janitor = Janitor(st, wall=wall)
    s = Keys(PREFIX).glob.shards[0]  # a backlog in one shard: LIMIT per ranking and call
    old_ms = T0 * 1000
    n = 2 * LIMIT + 50
    hosts = in_shard("stale{}.example.com", n)
    rdb.zadd(s.hosts_last, dict.fromkeys(hosts, old_ms))
    rdb.zadd(s.hosts, dict.fromkeys(hosts, 3))
    fresh = in_shard("fresh{}.example.com", 1, 3)[0]
    fs = Keys(PREFIX).glob.of_host(fresh)
    rdb.zadd(fs.hosts_last, {fresh: wall.now * 1000})
    rdb.zadd(fs.hosts, {fresh: 3})
    fps = in_shard("{:064x}", n)
    rdb.zadd(s.chains_last, dict.fromkeys(fps, old_ms))
    rdb.zadd(s.chains, dict.fromkeys(fps, 1))
    # one chain still seen, listing many stale hosts (as if trimmed long ago) and a fresh one
    live = "f" * 64
    ls = Keys(PREFIX).glob.of_chain(live)
    rdb.zadd(ls.chains, {live: 9})
    rdb.zadd(ls.chains_last, {live: wall.now * 1000})
    listed = seed(rdb, ls.chain_hosts(live), n, 1, "gone{}.example.com")
    rdb.zadd(ls.chain_hosts(live), {fresh: 2, "other": 5})
    assert janitor.every == EVERY_S

    calls = []
    while True:
        done = janitor.trim()
        calls.append(done)
        assert done.hosts <= LIMIT and done.chains <= LIMIT and done.chain_hosts <= LIMIT
        if not done.busy:
            break
        assert janitor.every == BUSY_S  # a backlog: the writer loop calls again in a second
        assert len(calls) < 20
    assert [c.hosts for c in calls[:3]] == [LIMIT, LIMIT, 50]
    assert sum(c.chains for c in calls) == n
    assert sum(c.chain_hosts for c in calls) == len(listed)
    assert janitor.every == EVERY_S
    assert ranked(rdb, "hosts") == ranked(rdb, "hosts_last") == {fresh}
    assert ranked(rdb, "chains") == ranked(rdb, "chains_last") == {live}
    assert members(rdb, ls.chain_hosts(live)) == {fresh, "other"}


def test_a_host_written_again_during_the_sweep_stays_in_the_chain_list(
        rdb: redis.Redis, redis_server: Any) -> None:
    """The sweep reads a host's last seen in the host's shard, then removes it from the
    chain's list (another slot) only if its score there is unchanged."""
    st = store(redis_server.url)
    janitor = Janitor(st, wall=Wall(T0 + (R_DAYS + 1) * DAY))
    g = Keys(PREFIX).glob
    live = "e" * 64
    s = g.of_chain(live)
    rdb.zadd(s.chains, {live: 3})
    rdb.zadd(s.chains_last, {live: (T0 + R_DAYS * DAY) * 1000})
    rdb.zadd(s.chain_hosts(live), {"gone.example.com": 1, "back.example.com": 1})
    real = janitor._sweep_script
    def racing(**kw: Any) -> Any:  # a report for back.example.com lands in between
        rdb.zincrby(s.chain_hosts(live), 1, "back.example.com")
        return real(**kw)
    janitor._sweep_script = racing  # type: ignore[assignment]
    assert janitor.trim().chain_hosts == 1
    assert members(rdb, s.chain_hosts(live)) == {"back.example.com"}


def test_a_chain_host_list_of_the_wrong_type_is_passed_over(
        rdb: redis.Redis, redis_server: Any) -> None:
    st = store(redis_server.url)
    wall = Wall(T0 + (R_DAYS + 1) * DAY)
    janitor = Janitor(st, wall=wall)
    g = Keys(PREFIX).glob
    broken, fine = in_shard("{:064x}", 2)
    s = g.shards[0]
    rdb.zadd(s.chains, {broken: 2, fine: 1})
    rdb.zadd(s.chains_last, {broken: wall.now * 1000, fine: wall.now * 1000})
    rdb.set(g.chain_hosts(broken), "not a sorted set")  # passed over, never blocking
    rdb.zadd(g.chain_hosts(fine), {"gone.example.com": 1})
    done = janitor.trim()
    assert done.chain_hosts == 1 and not done.busy
    assert members(rdb, g.chain_hosts(fine)) == set()


def test_a_ranking_of_the_wrong_type_is_refused_without_stopping_the_writer(
        rdb: redis.Redis, redis_server: Any) -> None:
    st = store(redis_server.url)
    janitor = Janitor(st, wall=Wall(T0 + (R_DAYS + 1) * DAY))
    s = Keys(PREFIX).glob.of_host("old.example.com")
    rdb.zadd(s.hosts_last, {"old.example.com": T0 * 1000})
    rdb.set(s.hosts_failing, "not a sorted set")
    assert janitor.trim().hosts == 0  # logged and skipped: nothing half done
    assert members(rdb, s.hosts_last) == {"old.example.com"}


def test_retired_writers_marks_leave_every_applied_hash_then_are_forgotten(
        rdb: redis.Redis, redis_server: Any) -> None:
    keys = Keys(PREFIX)
    g = keys.glob
    wall = Wall(time.time())
    st = store(redis_server.url)
    janitor = Janitor(st, wall=wall)
    now = wall.now
    st.write(stamp([at(now, "a.example.com"), at(now, "b.example.com")], writer="dead"))
    st.write(stamp([at(now, "a.example.com")], writer="dead.d"))
    st.write(stamp([at(now, "a.example.com")], writer="live"))
    a, b = keys.host("a.example.com").applied, keys.host("b.example.com").applied
    shard = g.of_host("a.example.com").applied
    assert fields(rdb, g.applied) == fields(rdb, shard) == {"dead", "dead.d", "live"}
    assert fields(rdb, a) == {"dead", "dead.d", "live"}

    assert janitor.retire(["dead", "dead.d"]) == 2
    assert janitor.retire(["dead", "dead.d"]) == 0  # already retired
    assert fields(rdb, g.applied) == fields(rdb, shard) == {"live"}
    assert members(rdb, g.retired()) == {"dead", "dead.d"}
    assert 0 < rdb.ttl(g.retired()) <= (R_DAYS * DAY + FORGET_MARGIN_S)
    assert fields(rdb, a) == {"dead", "dead.d", "live"}  # until the host is written again

    st.write(stamp([at(now, "a.example.com")], writer="live", start=2))
    assert fields(rdb, a) == {"live"}
    assert fields(rdb, b) == {"dead"}  # not written since: it expires with the host
    assert janitor.marks.plan(["a.example.com"]) == []  # cleaned once per host and id

    # Another process learns the retired ids from Redis at its next run.
    other = store(redis_server.url)
    other_janitor = Janitor(other, wall=wall)
    assert other_janitor.marks.plan(["b.example.com"]) == []
    other_janitor.run()
    other.write(stamp([at(now, "b.example.com")], writer="live2"))
    assert fields(rdb, b) == {"live2"}
    assert int(rdb.hget(keys.host("b.example.com").meta, "reports") or 0) == 2

    # After R + a day every host holding the marks has expired: the ids are forgotten.
    wall.now = now + R_DAYS * DAY + FORGET_MARGIN_S - 60
    assert janitor.trim().forgotten == 0
    wall.now = now + R_DAYS * DAY + FORGET_MARGIN_S + 60
    assert janitor.trim().forgotten == 2
    assert members(rdb, g.retired()) == set()
    other_janitor.run()
    assert other_janitor.marks.known() == []
    assert other_janitor.marks.plan(["c.example.com"]) == []
