"""Retention of the aggregates: stale hosts and chains leave the rankings, and the
idempotency marks of dead writers are dropped.

Rankings. Writes keep the TTL of every shard's ``hosts``, ``hosts:last``, ``hosts:failing``,
``hosts:breaking``, ``chains`` and ``chains:last`` (``P:{g:T}``), so on a live collector they
hold every host and chain ever seen. :meth:`Janitor.trim` removes the members whose last seen
is older than R (COLLECTOR_RETENTION_DAYS), by score, at most ``LIMIT`` per ranking and shard
per call (``lua/trim.lua``, one call per shard in one round trip), and sweeps the per-chain
host lists: a host that left the rankings leaves every ``chain:FP:hosts`` too. The chains are
walked shard by shard with ZSCAN, at most ``LIMIT`` hosts checked per call; a host's last
seen is read in its own shard, and ``lua/sweep.lua`` removes it from the chain's list only if
its score there has not changed since (it was not written again meanwhile). Everything else
about a stale host or chain expires R after its last write. The durable writer loop calls
:meth:`Janitor.run` every ``EVERY_S``, every ``BUSY_S`` while a call hits a bound or a sweep
is under way; never a request.

Marks. Each writer (one per worker process, plus ``<writer>.d`` for its direct writes)
leaves a field in ``P:{g}:applied``, in each shard's ``P:{g:T}:applied`` and in the
``applied`` hash of every host it wrote; a worker restart adds new ones forever. When the
durable side finds a writer gone for good it calls :meth:`Janitor.retire`: the writer is
recorded in ``P:{g}:retired`` (writer -> when, ms) and its global marks dropped
(``lua/retire.lua``, and an HDEL in each shard). Every writer process learns the retired
ids (at each :meth:`Janitor.run`) and drops them from the ``applied`` hash of each host a batch
touches (a pipelined HDEL after the host scripts, :class:`RetiredMarks`, once per host and
newly retired id). A host not written since keeps the mark until its keys expire, at most R
after the retirement (plus the time a process takes to learn of it), so ``retired`` forgets
an id after R + ``FORGET_MARGIN_S``.

Why dropping a mark cannot count anything twice. A mark only ever matters for a record
delivered again, and a record of writer W can be delivered only by W itself (from memory
or its own segments), or by a drainer from a segment file of W; direct writes (W.d) are never
spooled nor retried. ``collector.durable.retire`` retires W only when W's owner lock is free
and, checked after that, no segment of W is left in the spool directory. A dead process does
not come back (writer ids carry a random part and are never reused), so it creates no
segment after the first check; and a drainer deletes a segment only once Redis has
acknowledged every record in it. So when W is retired, no copy of any record of W is left
that anything could deliver, and no mark of W will ever be consulted again. (Bytes copied
back into the spool by hand would be counted again; quarantined regions and dead letters
were never counted.) A Redis that loses writes loses the retirement with them: the marks
come back, which is safe.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import redis

from collector.aggregates import scripts
from collector.aggregates.keys import Keys
from collector.aggregates.read import rankings
from collector.aggregates.read.params import FINGERPRINT
from collector.aggregates.read.replies import OTHER
from collector.aggregates.writer import ReportStore, StorageUnavailable

log = logging.getLogger("collector.retention")

# At most this many members leave each ranking per call, and at most this many hosts of the
# chains' host lists are checked: a call stays well under a millisecond of Redis time.
LIMIT = 100
# Chains handed to one sweep call (each costs one check more than its hosts).
SWEEP_CHAINS = 16
EVERY_S = 60.0  # retention is in days: a minute late is nothing
BUSY_S = 1.0  # ... but a backlog (a first run on old data) drains at LIMIT a second
FORGET_MARGIN_S = 86_400  # how late a process may learn of a retirement, with room to spare
CLEANED_HOSTS = 65_536  # hosts remembered as cleaned per process (a forgotten one: HDEL again)

T = TypeVar("T")


@dataclass(frozen=True)
class Trimmed:
    """What one :meth:`Janitor.trim` call removed."""

    hosts: int = 0
    chains: int = 0
    forgotten: int = 0  # retired ids forgotten
    chain_hosts: int = 0  # hosts removed from per-chain host lists
    busy: bool = False  # a bound was hit or a sweep is under way: call again soon


class RetiredMarks:
    """The retired writer ids this process knows, and the hosts it has dropped them from.

    The store asks :meth:`plan` before each batch (writer thread and direct writes alike):
    a host gets one HDEL of the ids retired since this process last cleaned it.
    """

    def __init__(self, keys: Keys, remember: int = CLEANED_HOSTS) -> None:
        self.keys = keys
        self._lock = threading.Lock()
        self._ids: dict[str, int] = {}  # id -> token: the order this process learned them
        self._token = 0
        self._cleaned: OrderedDict[str, int] = OrderedDict()  # hostname -> token done
        self._remember = remember

    def update(self, ids: Iterable[str], *, complete: bool) -> None:
        """Learn retired ids; ``complete``: these are all of them (the others were forgotten)."""
        ids = list(ids)
        with self._lock:
            for writer in ids:
                if writer not in self._ids:
                    self._token += 1
                    self._ids[writer] = self._token
            if complete:
                for writer in set(self._ids).difference(ids):
                    del self._ids[writer]
            if not self._ids:
                self._cleaned.clear()

    def known(self) -> list[str]:
        with self._lock:
            return list(self._ids)

    def plan(self, hostnames: Sequence[str]) -> list[tuple[str, tuple[str, ...], str, int]]:
        with self._lock:
            if not self._ids:
                return []
            out = []
            for hostname in hostnames:
                done = self._cleaned.get(hostname, 0)
                if done < self._token:
                    ids = tuple(w for w, token in self._ids.items() if token > done)
                    if ids:
                        out.append((self.keys.host(hostname).applied, ids, hostname, self._token))
                    else:  # the newer ids were forgotten meanwhile: nothing to drop
                        self._cleaned[hostname] = self._token
            return out

    def done(self, plan: list[tuple[str, tuple[str, ...], str, int]]) -> None:
        with self._lock:
            for _, _, hostname, token in plan:
                self._cleaned[hostname] = max(token, self._cleaned.get(hostname, 0))
                self._cleaned.move_to_end(hostname)
            while len(self._cleaned) > self._remember:
                self._cleaned.popitem(last=False)


class Janitor:
    """Trims the rankings and retires dead writers' marks, for one writer process.

    ``wall`` is the wall clock (unix seconds) the cutoffs are taken from; tests move it.
    Creating a Janitor makes ``store`` drop the retired marks from the hosts it writes.
    """

    def __init__(self, store: ReportStore, *, wall: Callable[[], float] = time.time,
                 limit: int = LIMIT) -> None:
        if limit < 2:
            raise ValueError("limit must be at least 2")
        self.client = store.client
        self.keys = store.keys
        self.retention_s = store.retention_s
        self.wall = wall
        self.limit = limit
        self.marks = RetiredMarks(store.keys)
        store.cleanup = self.marks
        self._trim = self.client.register_script(scripts.source("trim"))
        self._sweep_script = self.client.register_script(scripts.source("sweep"))
        self._retire = self.client.register_script(scripts.source("retire"))
        self._shard = 0  # the shard whose chains the sweep walks
        self._cursor: int | None = None  # ZSCAN cursor over that shard's chains; None: no pass
        self._sweep: deque[str] = deque()  # chains of this pass still to sweep
        self._rank = 0  # where the first of them resumes
        self.busy = False
        self._unretired: set[str] = set()  # gone writers Redis has not taken yet

    @property
    def every(self) -> float:
        """Seconds until the next :meth:`run` should be due."""
        return BUSY_S if self.busy else EVERY_S

    def _now_ms(self) -> int:
        return int(self.wall() * 1000)

    def _call(self, what: str, fn: Callable[[], T]) -> T | None:
        """Redis down: StorageUnavailable (the writer's concern). Refused: log, skip."""
        try:
            return fn()
        except redis.ResponseError as exc:
            log.warning("retention %s refused by redis: %s", what, exc)
            return None
        except redis.RedisError as exc:
            raise StorageUnavailable(type(exc).__name__) from exc

    def run(self) -> Trimmed:
        """The periodic duty: retire what an earlier call could not, learn the retired ids,
        then one bounded trim."""
        self.retire()
        self.refresh()
        return self.trim()

    def refresh(self) -> None:
        """Learn every retired id, so this process drops them from the hosts it writes."""
        found: list[Any] | None = self._call(
            "refresh", lambda: self.client.zrange(self.keys.glob.retired(), 0, -1))
        if found is not None:
            self.marks.update((_text(w) for w in found), complete=True)

    def _next_chains(self) -> list[str]:
        """Chains to sweep: the rest of this pass, topped up from the shards' ZSCAN."""
        shards = self.keys.glob.shards
        if not self._sweep and self._cursor is None:
            self._shard, self._cursor, self._rank = 0, 0, 0  # start a pass
        while len(self._sweep) < SWEEP_CHAINS and self._cursor is not None:
            cursor, shard = self._cursor, shards[self._shard]
            got: tuple[int, list[Any]] | None = self._call(
                "sweep", functools.partial(self.client.zscan, shard.chains, cursor,
                                           count=SWEEP_CHAINS))
            self._cursor = None if got is None else int(got[0]) or None
            if got is not None:
                self._sweep.extend(fp for fp in (_text(m) for m, _ in got[1])
                                   if FINGERPRINT.fullmatch(fp) and fp not in self._sweep)
            if self._cursor is None and got is not None and self._shard + 1 < len(shards):
                self._shard, self._cursor = self._shard + 1, 0  # the next shard's chains
            elif self._cursor is not None:
                break  # one ZSCAN step per call is enough work
        return list(self._sweep)

    def trim(self) -> Trimmed:
        """One bounded call: stale hosts and chains leave the rankings (see the module)."""
        g = self.keys.glob
        now = self._now_ms()
        cutoff = now - self.retention_s * 1000
        forget = now - (self.retention_s + FORGET_MARGIN_S) * 1000
        try:
            with self.client.pipeline(transaction=False) as pipe:
                for s in g.shards:
                    self._trim(keys=[s.hosts, s.hosts_last, s.hosts_failing, s.hosts_breaking,
                                     s.chains, s.chains_last],
                               args=[cutoff, self.limit], client=pipe)
                pipe.zremrangebyscore(g.retired(), "-inf", f"({forget}")
                replies = pipe.execute(raise_on_error=False)
        except redis.RedisError as exc:
            raise StorageUnavailable(type(exc).__name__) from exc
        hosts = chains = 0
        bound = False
        for res in replies[:-1]:
            if isinstance(res, redis.ResponseError):
                log.warning("retention trim refused by redis: %s", res)
                continue
            if isinstance(res, Exception):
                raise StorageUnavailable(type(res).__name__) from res
            hosts += int(res[0])
            chains += int(res[1])
            bound = bound or max(int(res[0]), int(res[1])) >= self.limit
        forgotten = replies[-1]
        if isinstance(forgotten, Exception):
            log.warning("retention forget refused by redis: %s", forgotten)
            forgotten = 0
        removed = self._sweep_hosts(cutoff)
        sweeping = bool(self._sweep) or self._cursor is not None
        self.busy = sweeping or bound or int(forgotten) >= self.limit
        return Trimmed(hosts, chains, int(forgotten), removed, self.busy)

    def _sweep_hosts(self, cutoff: int) -> int:
        """Check at most ``limit`` hosts of the chains' host lists; remove the stale ones."""
        g = self.keys.glob
        budget, removed = self.limit, 0
        for fp in self._next_chains():
            members, rank, asked = g.chain_hosts(fp), self._rank, budget
            got: list[Any] | None = self._call("sweep", functools.partial(
                self.client.zrange, members, rank, rank + asked - 1, withscores=True))
            rows = [(_text(m), float(sc)) for m, sc in got or []]
            hosts = [h for h, _ in rows if h != OTHER]
            lasts = dict(zip(hosts, self._last_seen(hosts), strict=True))
            stale = [(h, sc) for h, sc in rows
                     if h != OTHER and ((last := lasts[h]) is None or float(last) < cutoff)]
            gone = 0
            if stale:
                args = [x for h, sc in stale for x in (h, repr(sc))]
                found: Any = self._call("sweep", functools.partial(
                    self._sweep_script, keys=[members], args=args))
                gone = int(found or 0)
            removed += gone
            budget -= len(rows)
            if got is None or len(rows) < asked:  # its list is done (or of the wrong type)
                self._sweep.popleft()
                self._rank = 0
            else:
                self._rank = rank + len(rows) - gone  # a removal moves the rest one rank down
            if budget <= 0:
                break
        return removed

    def _last_seen(self, hosts: list[str]) -> list[float | None]:
        """Each host's ``hosts:last`` score, read in its own shard (None: not ranked, or the
        read refused)."""
        found = self._call("sweep", functools.partial(
            rankings.scores, self.client, rankings.HOSTS_LAST, hosts, self.keys.glob.of_host))
        return [None] * len(hosts) if found is None else found

    def retire(self, writers: Iterable[str] = ()) -> int:
        """Retire writer ids that can never deliver a record again (the caller's proof, see
        the module docstring); returns how many were new.

        Ids Redis did not take are kept and sent again with the next call (or run): a gone
        writer stays gone, and the spool forgets it once its lock file is swept.
        """
        self._unretired.update(writers)
        if not self._unretired:
            return 0
        ids = sorted(self._unretired)
        g = self.keys.glob
        args: list[str | int] = [self._now_ms(), self.retention_s + FORGET_MARGIN_S, *ids]

        def run() -> Any:
            with self.client.pipeline(transaction=False) as pipe:
                for s in g.shards:
                    pipe.hdel(s.applied, *ids)
                self._retire(keys=[g.applied, g.retired()], args=args, client=pipe)
                return pipe.execute()[-1]

        res = self._call("retire", run)
        if res is None:
            return 0
        self._unretired.difference_update(ids)
        self.marks.update(ids, complete=False)
        log.info("retired writer ids %s", ", ".join(ids))
        return int(res)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
