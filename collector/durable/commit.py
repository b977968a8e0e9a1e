"""The request side of ingestion: stamp each report, append it to the spool, queue it for Redis.

Each record gets this writer's next sequence number under ``lock``, is written to the spool
in that order and queued (``handoff``) in that order, which is the order Redis sees them in:
the scripts' high-water marks rely on it. The record is encoded before the lock is taken;
the lock covers the stamp, the frame, one write(2) and the hand-off.

``interval`` (the default): the request thread appends its own record and returns once the
write is done (page cache; the flusher fsyncs it within 100 ms). No thread hand-off, no
waiting on the disk.

``always``: a 204 waits for an fdatasync, which costs about as much for a hundred reports as
for one, so requests that arrive while a commit is in progress queue up and the next commit
takes them all (group commit).

When the spool cannot take a report (full or broken disk) it is written straight to Redis
under a separate writer id, so no sequence is broken; only when that fails too is the
answer a 503.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from collector.aggregates.writer import Stamped, StorageUnavailable
from collector.durable.progress import Progress
from collector.durable.sink import RedisSink, head, stamp, writer_json
from collector.durable.spool import ALWAYS, Spool, SpoolFull, SpoolUnavailable
from collector.intake.report import Report

log = logging.getLogger("collector.ingest")


class Unavailable(Exception):
    """Neither the spool nor Redis could take the report: the only cause of a 503."""


@dataclass
class _Pending:
    report: Report
    head: bytes
    done: bool = False
    error: Exception | None = None
    path: str = ""


class GroupCommit:
    """Stamps and spools submitted reports, then hands them on to ``handoff`` for Redis."""

    def __init__(self, spool: Spool, sink: RedisSink, writer: str, progress: Progress,
                 handoff: Callable[[list[Stamped]], None]) -> None:
        self.spool, self.sink, self.writer, self.progress = spool, sink, writer, progress
        self.handoff = handoff
        self._writer_json = writer_json(writer)
        # Held by each commit, and to seal a segment: the sequence read with it is its top.
        self.lock = threading.Lock()
        self.seq = 0  # the last sequence number committed to the spool
        self._direct_seq = 0
        self._queue: list[_Pending] = []
        self._queue_lock = threading.Lock()

    def submit(self, report: Report) -> str:
        """Return once the report is in the spool as the mode promises: "spool", or "redis"
        when the spool refused it and Redis took it directly; or raise Unavailable."""
        item = _Pending(report, head(report))
        if self.spool.fsync != ALWAYS:  # interval: this thread writes its own record
            with self.lock:
                self._commit([item])
        else:
            with self._queue_lock:
                self._queue.append(item)
            with self.lock:
                if not item.done:
                    with self._queue_lock:
                        batch, self._queue = self._queue, []
                    try:
                        self._commit(batch)
                    finally:
                        for pending in batch:  # only when _commit itself failed: never hang
                            if not pending.done:
                                pending.done, pending.error = True, Unavailable("commit failed")
        if item.error is not None:
            raise item.error
        return item.path

    def seal(self) -> tuple[str | None, int]:
        """Seal the open segment: its name (None if none was open) and its top sequence.

        Only the detach holds up the requests; the seal's fsync runs after the lock."""
        with self.lock:
            detached, top = self.spool.detach(), self.seq
        return self.spool.seal(detached), top

    def _commit(self, batch: list[_Pending]) -> None:
        stamped, records = [], []
        for item in batch:
            self.seq += 1
            stamped.append(Stamped(item.report, self.writer, self.seq))
            records.append(stamp(item.head, self._writer_json, self.seq))
        path, error = "spool", None
        try:
            self.spool.append(records)
        except (SpoolFull, SpoolUnavailable) as exc:
            log.error("spool refused %d report(s): %s", len(batch), type(exc).__name__)
            path, error = "redis", self._direct(batch)
        else:
            self.progress.set(committed=self.seq)
            self.handoff(stamped)
        for item in batch:
            item.done, item.error, item.path = True, error, path

    def _direct(self, batch: list[_Pending]) -> Exception | None:
        """Write straight to Redis under a separate writer id, so no ordering is broken."""
        stamped = []
        for item in batch:
            self._direct_seq += 1
            stamped.append(Stamped(item.report, self.writer + ".d", self._direct_seq))
        try:
            self.sink.write(stamped)
        except StorageUnavailable as exc:
            self.sink.note_error(str(exc))
            self.sink.stats.refused += len(batch)
            return Unavailable("spool and redis both unavailable")
        return None
