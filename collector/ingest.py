"""The promise behind a 204: a report is durable in Redis or in the local spool first.

Concurrent requests of one worker are combined: whichever thread holds the write lock
flushes every pending report in one Redis round trip (group commit). Each report gets this
writer's next sequence number; because a writer's reports reach Redis in sequence order
(after any failure everything goes to the spool until the spool has drained), the
per-slot high-water marks in the scripts make every replay exactly-once.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from dataclasses import dataclass, field

from collector.report import Report
from collector.spool import Spool, SpoolFull, SpoolUnavailable
from collector.store import PoisonRecord, ReportStore, Stamped, StorageUnavailable

log = logging.getLogger("collector.ingest")

# Redis with appendfsync everysec may lose about the last second of acknowledged writes on a
# crash; reports acknowledged this recently are replayed when the server's run id changes.
REPLAY_WINDOW_S = 10.0


class Unavailable(Exception):
    """Neither Redis nor the spool could take the report: the only cause of a 503."""


@dataclass
class _Pending:
    report: Report
    done: bool = False
    error: Exception | None = None
    path: str = ""


@dataclass
class IngestStats:
    redis: int = 0
    spooled: int = 0
    replayed: int = 0
    dead_lettered: int = 0
    refused: int = 0
    redis_errors: dict[str, int] = field(default_factory=dict)


class Ingestor:
    def __init__(self, store: ReportStore, spool: Spool, writer: str) -> None:
        self.store = store
        self.spool = spool
        self.writer = writer
        self.stats = IngestStats()
        self.degraded = False
        self._seq = 0
        self._queue: list[_Pending] = []
        self._queue_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._recent: collections.deque[tuple[float, Stamped]] = collections.deque()
        self._run_id: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- request path -------------------------------------------------------------------
    def submit(self, report: Report) -> str:
        """Block until the report is durable; returns "redis" or "spool", or raises."""
        item = _Pending(report)
        with self._queue_lock:
            self._queue.append(item)
        with self._write_lock:
            if not item.done:
                with self._queue_lock:
                    batch, self._queue = self._queue, []
                self._flush(batch)
        if item.error is not None:
            raise item.error
        return item.path

    def _flush(self, batch: list[_Pending]) -> None:
        stamped = []
        for item in batch:
            self._seq += 1
            stamped.append(Stamped(item.report, self.writer, self._seq))
        path = "spool"
        if not self.degraded:
            try:
                self._write(stamped)
                path = "redis"
                now = time.monotonic()
                self._recent.extend((now, s) for s in stamped)
                while self._recent and self._recent[0][0] < now - REPLAY_WINDOW_S:
                    self._recent.popleft()
            except StorageUnavailable as exc:
                self._note_error(str(exc))
                self.degraded = True
        error: Exception | None = None
        if path == "spool":
            try:
                self.spool.append([s.report.to_json(writer=s.writer, seq=s.seq) for s in stamped])
            except (SpoolFull, SpoolUnavailable) as exc:
                log.error("spool refused %d report(s): %s", len(stamped), type(exc).__name__)
                self.stats.refused += len(stamped)
                error = Unavailable(type(exc).__name__)
        for item in batch:
            item.done, item.error, item.path = True, error, path
        if error is None:
            if path == "redis":
                self.stats.redis += len(batch)
            else:
                self.stats.spooled += len(batch)

    def _write(self, stamped: list[Stamped]) -> None:
        """Write to Redis; a poison record is dead-lettered and the rest written again."""
        while stamped:
            try:
                self.store.write(stamped)
                return
            except PoisonRecord as exc:
                bad = stamped.pop(exc.index)
                self.spool.dead_letter(bad.report.to_json(writer=bad.writer, seq=bad.seq),
                                       str(exc))
                self.stats.dead_lettered += 1

    def _note_error(self, name: str) -> None:
        self.stats.redis_errors[name] = self.stats.redis_errors.get(name, 0) + 1

    # -- recovery -----------------------------------------------------------------------
    def _apply_spooled(self, records: list[bytes]) -> None:
        stamped = []
        for raw in records:
            report, extra = Report.from_json(raw)
            stamped.append(Stamped(report, str(extra["writer"]), int(extra["seq"])))
        self._write(stamped)
        self.stats.replayed += len(stamped)

    def recover(self) -> None:
        """One recovery step: notice restarts, drain the spool, leave degraded mode."""
        try:
            run_id = self.store.run_id()
        except StorageUnavailable:
            self.degraded = True
            return
        if self._run_id is not None and run_id != self._run_id:
            log.warning("redis restarted (run id changed); replaying the last %.0fs",
                        REPLAY_WINDOW_S)
            with self._write_lock:
                self.degraded = True
                recent = [s for _, s in self._recent]
                self._recent.clear()
            try:
                self._write(recent)
            except StorageUnavailable:
                self._recent.extendleft((time.monotonic(), s) for s in reversed(recent))
                return
        self._run_id = run_id
        try:
            self.spool.drain(self._apply_spooled)
            if self.degraded:
                with self._write_lock:
                    self.spool.drain(self._apply_spooled)
                    if self.spool.pending_own() == 0:
                        self.degraded = False
        except (StorageUnavailable, SpoolUnavailable) as exc:
            self._note_error(str(exc))

    def start(self, interval: float = 0.5) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, args=(interval,),
                                            name="collector-recover", daemon=True)
            self._thread.start()

    def _loop(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.recover()
            except Exception:
                log.exception("recovery step failed")

    def close(self) -> None:
        self._stop.set()
        with self._write_lock:
            self.spool.close()
