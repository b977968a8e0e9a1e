"""The promise behind a 204: a report is on local disk (fsync'd) or in Redis before it.

The request path appends to this worker's spool segment (concurrent requests share one
fsync, see ``commit``) and hands the record to a background writer, which sends batches to
Redis. Each record carries this writer's next sequence number and batches go out in
sequence order, so the per-slot high-water marks in the scripts make every replay
exactly-once:

* Redis fails: the writer stops; records keep landing on disk. When Redis answers again,
  the writer replays its sealed segments in order (already-applied records are skipped),
  then resumes.
* Redis restarts and lost acknowledged writes (AOF fsyncs once a second): its run id
  changes, and the segments it still keeps (see ``retention``) are replayed: enough for
  AOF's lost second, and for minutes of writes lost by a Redis that only snapshots.
* A worker dies: its segments are orphans; any live worker replays them.
* The spool cannot take a report (full or broken disk): it is written to Redis directly
  under a separate writer id; only when that fails too is the answer 503.
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
from collector.durable.progress import Progress
from collector.durable.retention import Retention
from collector.durable.retire import gone_writers, known_writers
from collector.durable.sink import BATCH, IngestStats, RedisSink
from collector.durable.spool import Spool, SpoolUnavailable
from collector.intake.report import Report

__all__ = ["IngestStats", "Ingestor", "Unavailable"]

log = logging.getLogger("collector.ingest")

RESTART_CHECK_S = 1.0
ROTATE_S = 1.0
ORPHAN_SCAN_S = 3.0
TICK_S = 1.0
# Reports are durable on disk before the 204, so Redis can wait a little: gathering a few
# milliseconds of reports into one batch divides the cost of the write by the batch size.
LINGER_S = 0.01


class Ingestor:
    """One worker's reports: durable on ``submit``, then in Redis exactly once."""

    def __init__(self, store: ReportStore, spool: Spool, writer: str, *,
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
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
        self._wake = threading.Condition()
        self._inflight = 0
        self._run_id: str | None = None
        self._stop = threading.Event()
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
        """Queue committed records for Redis, unless spool-only (recover() replays them)."""
        with self._wake:
            if not self.failed:
                self._outbox.extend(stamped)
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
        restarted = run_id != self._run_id
        confirmed = self.retention.confirmed(self._acked)
        with self.commits.lock, self._wake:
            name, top = self.spool.rotate(), self.commits.seq
            self.retention.seal(name, top, self.clock())
            self.failed = False  # records committed from now on are queued in the outbox
            self._outbox.clear()
        try:
            for seg in self.spool.own_sealed():
                if restarted or seg not in confirmed:
                    self.sink.apply(self.spool.records(seg))
        except (StorageUnavailable, SpoolUnavailable) as exc:
            self.fail(str(exc))
            return False
        self._acked = max(self._acked, top)
        self.progress.set(acked=self._acked)
        self._run_id = run_id
        log.info("redis writes resumed")
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
        with self._wake:
            if not self._outbox:
                self._wake.wait(wait)
            if not self._outbox:
                return
        if len(self._outbox) < BATCH and LINGER_S:
            self._stop.wait(LINGER_S)
        with self._wake:
            batch = [self._outbox.popleft() for _ in range(min(BATCH, len(self._outbox)))]
            self._inflight = len(batch)
        if not batch:
            return
        top = batch[-1].seq  # before the write: the sink drops dead-lettered records from it
        try:
            self.sink.write(batch)
            self._acked = max(self._acked, top)
            self.progress.set(acked=self._acked)
        except StorageUnavailable as exc:
            self.fail(str(exc))
        finally:
            self._inflight = 0

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
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="collector-writer",
                                            daemon=True)
            self._thread.start()

    def pending(self) -> int:
        return len(self._outbox) + self._inflight

    def flush(self, timeout: float = 1.0) -> bool:
        """Wait until this worker's accepted reports are in Redis (read-your-writes)."""
        deadline = time.monotonic() + timeout
        while self.pending() and not self.failed and time.monotonic() < deadline:
            time.sleep(0.001)
        return not self.pending() and not self.failed

    def settle(self, timeout: float = 0.25) -> bool:
        """Wait until every worker's accepted reports are in Redis, or give up."""
        deadline = time.monotonic() + timeout
        while not Progress.settled(self.spool.directory):
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
        if self._thread is not None:
            self._thread.join(timeout)
        with self.commits.lock:
            self.spool.close()
        self.progress.close()
