"""Durable local spool for reports that could not be written to Redis (reliability.md §6.5).

Why: TrustKit never retries, so a 204 must mean "durable in Redis *or* fsync'd here".
Each writer (``owner``) appends to its own segment files and holds an exclusive ``flock`` on
the open one. An unlocked segment is therefore sealed (rotated) or the orphan of a dead
process, and the single elected drainer (``drain.lock``) may replay and then delete it.
The file layout is in ``segments``, owner liveness in ``owners``, reading back in ``replay``.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from collector.durable.frames import frame
from collector.durable.owners import hold_owner_lock, owner_alive
from collector.durable.replay import Apply, ApplyFailed, drain_segment, read_records
from collector.durable.segments import (
    OWNER,
    SpoolUnavailable,
    disk,
    fsync_dir,
    list_segments,
    measure,
    segment_name,
    sweep,
    unlink,
    write_all,
    write_file,
)

__all__ = ["Apply", "Spool", "SpoolFull", "SpoolStats", "SpoolUnavailable"]

_RESCAN_S = 1.0  # other processes append too: re-sum segment sizes at most this often


class SpoolFull(Exception):
    """max_bytes would be exceeded: the caller must refuse (503 + Retry-After)."""


@dataclass(frozen=True)
class SpoolStats:
    bytes: int  # on-disk size of all segments: the quantity max_bytes caps
    segments: int
    oldest_age_seconds: float | None  # upper bound: age of the oldest segment still pending
    free_bytes: int


class Spool:
    """Append-only, fsync'd, per-owner segment spool. Create it after fork (one per worker)."""

    def __init__(self, directory: str | os.PathLike[str], *, max_bytes: int = 512 * 2**20,
                 owner: str, segment_bytes: int = 64 * 2**20) -> None:
        if not re.fullmatch(OWNER, owner):
            raise ValueError(f"owner must match {OWNER}: {owner!r}")
        self.directory, self.owner = os.fspath(directory), owner
        self.max_bytes, self.segment_bytes = max_bytes, segment_bytes
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._owner_fd: int | None = None
        self._seg_size = self._last_n = self._total = 0
        self._scanned_at = -1e9
        self.appended = self.drained = self.torn = self.quarantined = 0
        self.dead_lettered = self.refused = 0

    def _path(self, name: str) -> str:
        return os.path.join(self.directory, name)

    def _scan(self, with_age: bool = False) -> SpoolStats:
        total, count, oldest = measure(self.directory, with_age)
        self._total, self._scanned_at = total, time.monotonic()
        age = None if oldest is None else max(0.0, (time.time_ns() - oldest) / 1e9)
        return SpoolStats(total, count, age, max(0, self.max_bytes - total))

    def _open_segment(self) -> None:
        os.makedirs(self.directory, exist_ok=True)
        if self._owner_fd is None:  # held for our lifetime: drainers skip our sealed segments
            self._owner_fd = hold_owner_lock(self.directory, self.owner)
        if not self._last_n:  # a restarted owner with a stable id must not reuse n
            self._last_n = max((n for o, n, _ in list_segments(self.directory)
                                if o == self.owner), default=0)
        self._last_n = n = max(time.time_ns(), self._last_n + 1)
        name = segment_name(self.owner, n)
        tmp = self._path(f".{name}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:  # lock before the name is visible, so no drainer ever takes it for an orphan
            fcntl.flock(fd, fcntl.LOCK_EX)
            unlink(self._path(name + ".off"))
            os.rename(tmp, self._path(name))
            fsync_dir(self.directory)
        except BaseException:
            os.close(fd)
            unlink(tmp)
            raise
        self._fd, self._seg_size = fd, 0

    def _close_segment(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            try:
                os.fdatasync(fd)
            finally:
                os.close(fd)  # releases the flock: the segment is sealed, hence drainable

    def append(self, records: Sequence[bytes]) -> None:
        """Durably append records: one write and one fdatasync per call (batch to group-commit)."""
        if not records:
            return
        buf = b"".join(frame(r) for r in records)
        with self._lock, disk("append"):
            age = time.monotonic() - self._scanned_at
            if age > _RESCAN_S or (self._total + len(buf) > self.max_bytes and age > 0.05):
                self._scan()  # O(segments), at most every 50 ms..1 s: amortised O(1)
            if self._total + len(buf) > self.max_bytes:
                self.refused += len(records)
                raise SpoolFull(f"spool holds {self._total} of {self.max_bytes} bytes")
            if self._fd is not None and self._seg_size >= self.segment_bytes:
                self._close_segment()
            if self._fd is None:
                self._open_segment()
            fd, start = self._fd, self._seg_size
            assert fd is not None
            try:
                write_all(fd, buf)
                os.fdatasync(fd)
            except OSError:  # never append after a maybe-torn write or a failed fsync
                self._fd = None
                try:
                    os.ftruncate(fd, start)
                finally:
                    os.close(fd)
                raise
            self._seg_size += len(buf)
            self._total += len(buf)
            self.appended += len(records)

    def depth(self) -> SpoolStats:
        """Byte-based depth: counting records would mean reading every segment."""
        with self._lock, disk("scan"):
            return self._scan(with_age=True)

    def drain(self, apply: Apply, *, batch: int = 500, orphans_only: bool = False) -> int:
        """Replay sealed and orphaned segments, oldest first per owner; return records applied.

        Returns 0 at once if another drainer (thread or process) holds ``drain.lock``. If
        ``apply`` raises, that exception propagates; batches acknowledged before it stay
        committed in ``.off`` and are not re-applied. ``apply`` may call :meth:`dead_letter`
        for a poison record and return normally: the record then counts as acknowledged.
        """
        with disk("drain"):
            os.makedirs(self.directory, exist_ok=True)
            lock_fd = os.open(self._path("drain.lock"), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return 0
            with disk("drain"):
                if not orphans_only:
                    with self._lock:
                        self._close_segment()  # rotate: the next append opens a fresh segment
                applied, blocked = 0, set[str]()
                if orphans_only:  # a live owner replays its own segments, in its own order
                    blocked = {o for o, _, _ in list_segments(self.directory)
                               if o == self.owner or owner_alive(self.directory, o)}
                for owner, _, name in list_segments(self.directory):
                    if owner not in blocked:  # never replay past a live segment of one owner
                        n, done, deleted = drain_segment(self.directory, name, apply, batch,
                                                         self)
                        if deleted:
                            with self._lock:
                                self._total = max(0, self._total - deleted)
                        applied += n
                        if not done:
                            blocked.add(owner)
                sweep(self.directory, self.owner)
                return applied
        except ApplyFailed as e:
            raise e.err from None
        finally:
            os.close(lock_fd)

    def rotate(self) -> str | None:
        """Seal the open segment (fsync'd) and return its name; the next append opens anew."""
        with self._lock, disk("rotate"):
            if self._fd is None:
                return None
            name = segment_name(self.owner, self._last_n)
            self._close_segment()
            return name

    def own_sealed(self) -> list[str]:
        """This owner's sealed segments, oldest first."""
        with self._lock, disk("scan"):
            current = segment_name(self.owner, self._last_n) if self._fd is not None else None
            return [name for owner, _, name in list_segments(self.directory)
                    if owner == self.owner and name != current]

    def records(self, name: str) -> list[bytes]:
        """The intact records of a segment, in order (damaged regions are left for drain)."""
        with disk("read"):
            return read_records(self._path(name))

    def size(self, name: str) -> int:
        """Bytes of one segment (0 once it is gone)."""
        try:
            return os.stat(self._path(name)).st_size
        except FileNotFoundError:
            return 0

    def discard(self, name: str) -> None:
        """Delete a sealed segment whose records are all acknowledged elsewhere."""
        with self._lock, disk("discard"):
            path = self._path(name)
            try:
                size = os.stat(path).st_size
            except FileNotFoundError:
                return
            unlink(path)
            unlink(path + ".off")
            self._total = max(0, self._total - size)

    def dead_letter(self, record: bytes, reason: str) -> None:
        """Park a record the consumer rejects for good (fsync'd), so replay never loops on it."""
        try:
            body = {"record": record.decode()}
        except UnicodeDecodeError:
            body = {"record_b64": base64.b64encode(record).decode()}
        line = json.dumps({"at": time.time(), "reason": reason, **body}, separators=(",", ":"))
        with self._lock, disk("dead-letter"):
            os.makedirs(self.directory, exist_ok=True)
            write_file(self._path("dead-letter.ndjson"), line.encode() + b"\n", os.O_APPEND)
            self.dead_lettered += 1

    def stats(self) -> dict[str, int]:
        """Process-local counters since this instance was created."""
        keys = ("appended", "drained", "torn", "quarantined", "dead_lettered", "refused")
        return {k: getattr(self, k) for k in keys}

    def close(self) -> None:
        """fsync and close the open segment, releasing its flock (so it becomes drainable)."""
        with self._lock, disk("close"):
            self._close_segment()
            if self._owner_fd is not None:
                os.close(self._owner_fd)  # the owner is gone: its segments are orphans now
                self._owner_fd = None
