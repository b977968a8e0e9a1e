"""The promise behind a 204: a report is on local disk (fsync'd) or in Redis before it.

The request path appends to this worker's spool segment (concurrent requests share one
fsync) and hands the record to a background writer, which sends batches to Redis. Each
record carries this writer's next sequence number and batches go out in sequence order,
so the per-slot high-water marks in the scripts make every replay exactly-once:

* Redis fails: the writer stops; records keep landing on disk. When Redis answers again,
  the writer replays its sealed segments in order (already-applied records are skipped),
  then resumes.
* Redis restarts and lost acknowledged writes (AOF fsyncs once a second): its run id
  changes, and the segments it still keeps (the last ``REPLAY_WINDOW_S`` seconds, within
  ``REPLAY_SHARE`` of the spool's size) are replayed: enough for AOF's lost second, and
  for minutes of writes lost by a Redis that only snapshots.
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
from dataclasses import dataclass, field

from collector.aggregates.writer import PoisonRecord, ReportStore, Stamped, StorageUnavailable
from collector.durable.progress import Progress
from collector.durable.spool import Spool, SpoolFull, SpoolUnavailable
from collector.intake.report import Report

log = logging.getLogger("collector.ingest")

REPLAY_WINDOW_S = 300.0
# ... within this share of the spool's size, so retention never crowds out real spooling.
REPLAY_SHARE = 0.25
ROTATE_S = 1.0
ORPHAN_SCAN_S = 3.0
TICK_S = 1.0
BATCH = 500
# Reports are durable on disk before the 204, so Redis can wait a little: gathering a few
# milliseconds of reports into one batch divides the cost of the write by the batch size.
LINGER_S = 0.01


class Unavailable(Exception):
    """Neither the spool nor Redis could take the report: the only cause of a 503."""


@dataclass
class _Pending:
    report: Report
    done: bool = False
    error: Exception | None = None
    path: str = ""


@dataclass
class IngestStats:
    replayed: int = 0
    dead_lettered: int = 0
    refused: int = 0
    redis_errors: dict[str, int] = field(default_factory=dict)


def _encode(s: Stamped) -> bytes:
    return s.report.to_json(writer=s.writer, seq=s.seq)


def _decode(raw: bytes) -> Stamped:
    report, extra = Report.from_json(raw)
    return Stamped(report, str(extra["writer"]), int(extra["seq"]))


class Ingestor:
    def __init__(self, store: ReportStore, spool: Spool, writer: str) -> None:
        self.store = store
        self.spool = spool
        self.writer = writer
        self.stats = IngestStats()
        self.failed = False
        self._seq = 0
        self._direct_seq = 0
        self._acked = 0
        self._queue: list[_Pending] = []
        self._queue_lock = threading.Lock()
        self._commit_lock = threading.Lock()
        self._outbox: collections.deque[Stamped] = collections.deque()
        self._wake = threading.Condition()
        self._sealed: list[tuple[str, int, float]] = []
        self._inflight = 0
        self._run_id: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.progress = Progress(spool.directory, writer)
        # Called by the background writer every TICK_S: each worker must publish its own
        # totals, since a scrape is answered by one worker only (create_app wires the metrics).
        self.tick: Callable[[], None] | None = None

    @property
    def degraded(self) -> bool:
        return self.failed

    # -- request path -------------------------------------------------------------------
    def submit(self, report: Report) -> str:
        """Block until the report is durable; returns "spool" or "redis", or raises."""
        item = _Pending(report)
        with self._queue_lock:
            self._queue.append(item)
        with self._commit_lock:
            if not item.done:
                with self._queue_lock:
                    batch, self._queue = self._queue, []
                self._commit(batch)
        if item.error is not None:
            raise item.error
        return item.path

    def _commit(self, batch: list[_Pending]) -> None:
        stamped = []
        for item in batch:
            self._seq += 1
            stamped.append(Stamped(item.report, self.writer, self._seq))
        path, error = "spool", None
        try:
            self.spool.append([_encode(s) for s in stamped])
        except (SpoolFull, SpoolUnavailable) as exc:
            log.error("spool refused %d report(s): %s", len(batch), type(exc).__name__)
            path, error = "redis", self._direct(batch)
        else:
            self.progress.set(committed=self._seq)
            with self._wake:
                if not self.failed:
                    self._outbox.extend(stamped)
                    self._wake.notify()
        for item in batch:
            item.done, item.error, item.path = True, error, path

    def _direct(self, batch: list[_Pending]) -> Exception | None:
        """Write straight to Redis under a separate writer id, so no ordering is broken."""
        stamped = []
        for item in batch:
            self._direct_seq += 1
            stamped.append(Stamped(item.report, self.writer + ".d", self._direct_seq))
        try:
            self._write(stamped)
        except StorageUnavailable as exc:
            self._note_error(str(exc))
            self.stats.refused += len(batch)
            return Unavailable("spool and redis both unavailable")
        return None

    # -- background writer ----------------------------------------------------------------
    def _write(self, stamped: list[Stamped]) -> None:
        """Write in order; records Redis refuses for good go to the dead-letter file."""
        while stamped:
            try:
                self.store.write(stamped)
                return
            except PoisonRecord as exc:
                for i in sorted(exc.indices, reverse=True):
                    self.spool.dead_letter(_encode(stamped.pop(i)), str(exc))
                    self.stats.dead_lettered += 1

    def _apply_raw(self, records: list[bytes]) -> None:
        stamped = []
        for raw in records:
            try:
                stamped.append(_decode(raw))
            except (ValueError, KeyError, TypeError) as exc:  # unreadable: never retry it
                self.spool.dead_letter(raw, f"unreadable record: {type(exc).__name__}")
                self.stats.dead_lettered += 1
        for i in range(0, len(stamped), BATCH):
            self._write(stamped[i : i + BATCH])
        self.stats.replayed += len(stamped)

    def _note_error(self, name: str) -> None:
        self.stats.redis_errors[name] = self.stats.redis_errors.get(name, 0) + 1

    def _fail(self, reason: str) -> None:
        self._note_error(reason)
        with self._wake:
            if not self.failed:
                log.warning("redis unavailable (%s): reports go to the spool only", reason)
            self.failed = True
            self._outbox.clear()  # every record in it is on disk and will be replayed

    def _rotate(self) -> None:
        """Seal the current segment; drop acknowledged ones past the replay window."""
        with self._commit_lock:
            name, top = self.spool.rotate(), self._seq
        now = time.monotonic()
        if name is not None:
            self._sealed.append((name, top, now))
        if self.failed:
            return
        budget = REPLAY_SHARE * self.spool.max_bytes
        kept = 0
        keep = []
        for seg, seg_top, sealed_at in reversed(self._sealed):  # newest first
            size = self.spool.size(seg)
            acked = seg_top <= self._acked
            if acked and (now - sealed_at > REPLAY_WINDOW_S or kept + size > budget):
                self.spool.discard(seg)
            else:
                kept += size
                keep.append((seg, seg_top, sealed_at))
        self._sealed = keep[::-1]

    def recover(self) -> bool:
        """Replay this writer's segments in order, then resume; True when healthy again.

        After a restart every kept segment is replayed (Redis may have lost any of them);
        otherwise only segments holding records Redis has not acknowledged.
        """
        try:
            run_id = self.store.run_id()
        except StorageUnavailable as exc:
            self._note_error(str(exc))
            return False
        restarted = run_id != self._run_id
        confirmed = {seg for seg, seg_top, _ in self._sealed if seg_top <= self._acked}
        with self._commit_lock, self._wake:
            name, top = self.spool.rotate(), self._seq
            if name is not None:
                self._sealed.append((name, top, time.monotonic()))
            self.failed = False  # records committed from now on are queued in the outbox
            self._outbox.clear()
        try:
            for seg in self.spool.own_sealed():
                if restarted or seg not in confirmed:
                    self._apply_raw(self.spool.records(seg))
        except (StorageUnavailable, SpoolUnavailable) as exc:
            self._fail(str(exc))
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
            self._fail(str(exc))
            return
        if self._run_id is None:
            self._run_id = run_id
        elif run_id != self._run_id:
            self._fail("redis restarted")  # recover() replays the retained window

    def step(self, wait: float = 0.05) -> None:
        """One iteration of the background writer (tests drive it directly)."""
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
        try:
            self._write(batch)
            self._acked = max(self._acked, batch[-1].seq)
            self.progress.set(acked=self._acked)
        except StorageUnavailable as exc:
            self._fail(str(exc))
        finally:
            self._inflight = 0

    def _loop(self) -> None:
        last_rotate = last_orphans = last_check = last_tick = time.monotonic()
        while not self._stop.is_set():
            try:
                self.step()
                now = time.monotonic()
                if now - last_check > 1.0 and not self.failed:
                    last_check = now
                    self._check_restart()
                if now - last_rotate > ROTATE_S:
                    last_rotate = now
                    self._rotate()
                if self.tick is not None and now - last_tick > TICK_S:
                    last_tick = now
                    self.tick()
                if now - last_orphans > ORPHAN_SCAN_S and not self.failed:
                    last_orphans = now
                    self.spool.drain(self._apply_raw, batch=BATCH, orphans_only=True)
            except (StorageUnavailable, SpoolUnavailable) as exc:
                self._fail(str(exc))
            except Exception:
                log.exception("background writer step failed")
                self._stop.wait(0.5)

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
        with self._commit_lock:
            self.spool.close()
        self.progress.close()
