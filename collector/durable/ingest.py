"""The promise behind a 204: a report is on local disk or in Redis before it.

The request path appends to this worker's spool segment (``commit``: written, and fsync'd
before the 204 in ``always`` mode or by the ``flusher`` within 100 ms in ``interval`` mode)
and queues the record in an outbox for a background writer, which sends batches to Redis.
Each record carries this writer's next sequence number and batches go out in sequence
order, so the per-slot high-water marks in the scripts make every replay exactly-once:

* Redis fails: the writer stops; records keep landing on disk. When Redis answers again,
  the writer replays its sealed segments in order (already-applied records are skipped),
  then resumes.
* Redis restarts and lost acknowledged writes (AOF fsyncs once a second): its run id
  changes, and the segments it still keeps (see ``retention``) are replayed: enough for
  AOF's lost second, and for minutes of writes lost by a Redis that only snapshots.
* A worker dies: its segments are orphans; any live worker replays them.
* The spool cannot take a report (full or broken disk): it is written to Redis directly
  under a separate writer id; only when that fails too is the answer 503.
* Redis is slower than the intake (a storm, a slow Redis): the outbox holds at most
  ``OUTBOX_MAX`` records. Past that it is dropped, like after a failure, and the writer
  catches up from the segments on disk (sealed, then replayed in order), so memory stays
  bounded and nothing is lost or counted twice.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable

from collector.aggregates.retention import Janitor
from collector.aggregates.writer import ReportStore, Stamped, StorageUnavailable
from collector.durable.commit import GroupCommit, Unavailable
from collector.durable.flusher import Flusher
from collector.durable.progress import Kicks, Progress
from collector.durable.retention import Retention
from collector.durable.retire import gone_writers, known_writers
from collector.durable.sink import BATCH, IngestStats, RedisSink
from collector.durable.spool import INTERVAL, Spool, SpoolUnavailable
from collector.intake.report import Report

__all__ = ["IngestStats", "Ingestor", "Unavailable"]

log = logging.getLogger("collector.ingest")

RESTART_CHECK_S = 1.0
ROTATE_S = 1.0
ORPHAN_SCAN_S = 3.0
TICK_S = 1.0
# Reports are on disk before the 204, so Redis can wait: each batch costs the request
# threads far more than its own CPU (the writer's Python and Redis's work interleave with
# them on the same cores and evict their caches), so fewer, larger batches are cheaper. At
# a few hundred reports/s per worker, 10 ms gathered a handful (~1.6 ms of machine CPU per
# report in total), 50 ms ~20, 200 ms ~70 (~1.3 ms, as low as with no writer at all). Redis
# works per distinct counter of a batch, so in a storm the batch is its cost per report: at
# full speed a 200 ms linger gathered ~260 reports per worker (19 µs of Redis CPU per storm
# report), 1 s ~1 100 (7 µs; bench ``redis``, the collector rows). Any read cuts the wait
# short: ``flush`` and ``settle`` in this process, and ``Kicks`` (polled every KICK_POLL_S
# while lingering) from the others, so a reader never sees the linger.
LINGER_S = 1.0
KICK_POLL_S = 0.02
# Records waiting for Redis in memory, at most (a few seconds of a storm per worker); the
# rest waits on disk for a catch-up replay.
OUTBOX_MAX = 20_000


class Ingestor:
    """One worker's reports: durable on ``submit``, then in Redis exactly once."""

    def __init__(self, store: ReportStore, spool: Spool, writer: str, *,
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time, outbox_max: int = OUTBOX_MAX,
                 linger: float = LINGER_S) -> None:
        self.store = store
        self.spool = spool
        self.writer = writer
        # Times the background duties and the ages of sealed segments; tests advance it.
        self.clock = clock
        self.stats = IngestStats()
        self.failed = False
        self.progress = Progress(spool.directory, writer)
        self.sink = RedisSink(store, spool, self.stats)
        self.commits = GroupCommit(spool, self.sink, writer, self.progress, self._handoff)
        self.retention = Retention(spool)
        # Trims stale hosts and chains from the rankings by ``wall`` time; retires the marks
        # of writers gone for good (``replay_orphans``).
        self.janitor = Janitor(store, wall=wall)
        self._acked = 0
        self._outbox: collections.deque[Stamped] = collections.deque()
        self.outbox_max = outbox_max
        # The outbox overflowed: what it held is on disk only until a catch-up replays it.
        self.behind = False
        # interval mode: fsyncs the spool within 100 ms, whatever the writer is doing
        self.flusher = Flusher(spool) if spool.fsync == INTERVAL else None
        self._wake = threading.Condition()
        self._inflight = 0
        self._run_id: str | None = None
        self._stop = threading.Event()
        self._kick = threading.Event()  # ends the writer's linger: a reader is waiting
        self.linger = linger
        self.kicks = Kicks(spool.directory)  # the same, from the other workers' readers
        self._thread: threading.Thread | None = None
        self._last = dict.fromkeys(("check", "rotate", "tick", "orphans", "trim"), clock())
        # Called by the background writer every TICK_S: each worker must publish its own
        # totals, since a scrape is answered by one worker only (create_app wires the metrics).
        self.tick: Callable[[], None] | None = None
        # Timed jobs others add (``add_job``; wiring: the spike rule), run while Redis is up.
        self._jobs: dict[str, tuple[float, Callable[[], object]]] = {}

    def add_job(self, name: str, every: float, job: Callable[[], object]) -> None:
        """Run ``job`` from the writer loop every ``every`` s of ``clock`` while Redis is up.

        A job's exception is logged and never stops the writer or marks Redis down."""
        self._jobs[name] = (every, job)
        self._last[name] = self.clock()

    @property
    def degraded(self) -> bool:
        return self.failed

    def submit(self, report: Report) -> str:
        """Block until the report is durable: "spool" or "redis"; or raise Unavailable."""
        return self.commits.submit(report)

    def _handoff(self, stamped: list[Stamped]) -> None:
        """Queue committed records for Redis, unless spool-only or behind (a replay of the
        segments will send them). Called under the commit lock, so in sequence order."""
        with self._wake:
            if self.failed or self.behind:
                return
            if len(self._outbox) + len(stamped) > self.outbox_max:
                log.warning("writer outbox full (%d records): catching up from the spool",
                            len(self._outbox))
                self.behind = True
                self.stats.overflows += 1
                self._outbox.clear()  # every record in it is on disk and will be replayed
                return
            was_empty = not self._outbox
            self._outbox.extend(stamped)
            if was_empty:  # the writer waits only on an empty outbox: one wake per batch
                self._wake.notify()

    # -- background writer ----------------------------------------------------------------
    def fail(self, reason: str) -> None:
        """Go spool-only until :meth:`recover` succeeds, which replays what is unconfirmed.

        The writer calls this on any Redis error; a caller that knows a write's outcome is
        unknown (a lost reply) may too. The outbox is dropped: all of it is on disk.
        """
        self.sink.note_error(reason)
        with self._wake:
            if not self.failed:
                log.warning("redis unavailable (%s): reports go to the spool only", reason)
            self.failed = True
            self._outbox.clear()  # every record in it is on disk and will be replayed

    def _rotate(self) -> None:
        """Seal the current segment; drop acknowledged ones past the replay window."""
        name, top = self.commits.seal()
        now = self.clock()
        self.retention.seal(name, top, now)
        if not self.failed:
            self.retention.prune(self._acked, now)

    def recover(self) -> bool:
        """Replay this writer's segments in order, then resume; True when healthy again.

        After a restart every kept segment is replayed (Redis may have lost any of them);
        otherwise only segments holding records Redis has not acknowledged.
        """
        try:
            run_id = self.store.run_id()
        except StorageUnavailable as exc:
            self.sink.note_error(str(exc))
            return False
        if not self._replay_own(restarted=run_id != self._run_id):
            return False
        self._run_id = run_id
        log.info("redis writes resumed")
        return True

    def catch_up(self) -> bool:
        """After the outbox overflowed: replay the segments holding what it dropped."""
        if not self._replay_own(restarted=False):
            return False
        log.info("writer caught up from the spool")
        return True

    def _replay_own(self, *, restarted: bool) -> bool:
        """Seal the open segment, resume queueing, then replay this writer's sealed segments
        in order (all of them after a Redis restart, else those holding unacknowledged
        records) before the outbox, which only holds later records. False on failure."""
        confirmed = self.retention.confirmed(self._acked)
        with self.commits.lock, self._wake:
            detached, top = self.spool.detach(), self.commits.seq
            self.failed = self.behind = False  # records committed from now on are queued
            self._outbox.clear()
        try:
            self.retention.seal(self.spool.seal(detached), top, self.clock())
            for seg in self.spool.own_sealed():
                if restarted or seg not in confirmed:
                    self.sink.apply(self.spool.records(seg))
        except (StorageUnavailable, SpoolUnavailable) as exc:
            self.fail(str(exc))
            return False
        self._acked = max(self._acked, top)
        self.progress.set(acked=self._acked)
        return True

    def _check_restart(self) -> None:
        try:
            run_id = self.store.run_id()
        except StorageUnavailable as exc:
            self.fail(str(exc))
            return
        if self._run_id is None:
            self._run_id = run_id
        elif run_id != self._run_id:
            self.fail("redis restarted")  # recover() replays the retained window

    def replay_orphans(self) -> int:
        """Replay the segments of writers that are gone; return the records applied.

        Then retire the writers left with no segment at all (``retire``): their marks go.
        """
        known = known_writers(self.spool.directory, self.writer)  # before drain's sweep
        applied = self.spool.drain(self.sink.apply, batch=BATCH, orphans_only=True)
        self.janitor.retire(gone_writers(self.spool.directory, known))
        return applied

    def step(self, wait: float = 0.05) -> None:
        """Send one batch from the outbox (or try to recover): the core of :meth:`run_once`."""
        if self.failed:
            if not self.recover():
                self._stop.wait(0.5)
            return
        if self.behind:
            self.catch_up()
            return
        with self._wake:
            if not self._outbox:
                self._wake.wait(wait)
            if not self._outbox:
                return
        self._linger()
        with self._wake:
            batch = [self._outbox.popleft() for _ in range(min(BATCH, len(self._outbox)))]
            self._inflight = len(batch)
        if not batch:
            return
        top = batch[-1].seq  # before the write: the sink drops dead-lettered records from it
        try:
            self.sink.write(batch)
            self.stats.batches += 1
            self.stats.batched += len(batch)
            self._acked = max(self._acked, top)
            self.progress.set(acked=self._acked)
        except StorageUnavailable as exc:
            self.fail(str(exc))
        finally:
            self._inflight = 0

    def _linger(self) -> None:
        """Let a batch grow for up to ``linger`` seconds (real time), unless it is full or a
        reader asks for it (``flush``/``settle`` here, ``Kicks`` from other workers)."""
        deadline = time.monotonic() + self.linger
        while len(self._outbox) < BATCH and not self._kick.is_set() \
                and not self.kicks.kicked() and not self._stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self._kick.wait(min(KICK_POLL_S, left))
        self._kick.clear()

    def run_once(self) -> None:
        """One turn of the writer thread: a step, then each duty ``clock`` says is due.

        The duties: notice a Redis restart, seal the segment, publish metrics, replay orphans,
        trim the rankings (retention; more often while it has a backlog), then the added jobs.
        """
        try:
            self.step()
            now = self.clock()
            if not self.failed and self._due("check", RESTART_CHECK_S, now):
                self._check_restart()
            if self._due("rotate", ROTATE_S, now):
                self._rotate()
            if self.tick is not None and self._due("tick", TICK_S, now):
                self.tick()
            if not self.failed and self._due("orphans", ORPHAN_SCAN_S, now):
                self.replay_orphans()
            if not self.failed and self._due("trim", self.janitor.every, now):
                self.janitor.run()
            for name, (every, job) in list(self._jobs.items()):
                if not self.failed and self._due(name, every, now):
                    self._run_job(name, job)
        except (StorageUnavailable, SpoolUnavailable) as exc:
            self.fail(str(exc))
        except Exception:
            log.exception("background writer step failed")
            self._stop.wait(0.5)

    @staticmethod
    def _run_job(name: str, job: Callable[[], object]) -> None:
        try:
            job()
        except Exception:
            log.exception("timed job %s failed", name)

    def _due(self, duty: str, every: float, now: float) -> bool:
        if now - self._last[duty] <= every:
            return False
        self._last[duty] = now
        return True

    def _loop(self) -> None:
        self._last = dict.fromkeys(self._last, self.clock())  # each duty is due after `every`
        while not self._stop.is_set():
            self.run_once()

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        if self.flusher is not None:
            self.flusher.start()
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="collector-writer",
                                            daemon=True)
            self._thread.start()

    def pending(self) -> int:
        """Records accepted here and not yet acknowledged by Redis, as far as memory knows:
        while behind, the dropped outbox counts as one (its records are on disk)."""
        return len(self._outbox) + self._inflight + (1 if self.behind else 0)

    def flush(self, timeout: float = 1.0) -> bool:
        """Wait until this worker's accepted reports are in Redis (read-your-writes)."""
        deadline = time.monotonic() + timeout
        self._kick.set()
        while self.pending() and not self.failed and time.monotonic() < deadline:
            time.sleep(0.001)
        return not self.pending() and not self.failed

    def settle(self, timeout: float = 0.25) -> bool:
        """Wait until every worker's accepted reports are in Redis, or give up."""
        deadline = time.monotonic() + timeout
        if self.pending():
            self._kick.set()
        kicked = False
        while not Progress.settled(self.spool.directory):
            if not kicked:  # the other workers' writers: send now, do not linger on
                Kicks.kick(self.spool.directory)
                kicked = True
            if self.failed or time.monotonic() > deadline:
                return False
            time.sleep(0.001)
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Stop the writer after it has sent what it holds (best effort); keep the disk."""
        deadline = time.monotonic() + timeout
        if self._thread is not None:
            self.flush(max(0.0, deadline - time.monotonic()))
        self._stop.set()
        self._kick.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self.flusher is not None:
            self.flusher.close()
        with self.commits.lock:
            self.spool.close()  # seals the open segment: fsync'd in either mode
        self.progress.close()
        self.kicks.close()
