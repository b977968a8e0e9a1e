"""Durable local spool for reports that could not be written to Redis (reliability.md §6.5).

Why: TrustKit never retries, so a 204 must mean "on local disk" before it is sent. Two
promises (SPEC §7, ``COLLECTOR_SPOOL_FSYNC``): ``always`` fdatasyncs every append before it
returns (concurrent requests share one, see ``commit``); ``interval`` returns once write(2)
has put the records in the page cache, which survives any process crash, and a flusher
calls :meth:`Spool.sync` at least every ``FLUSH_S`` so a power loss costs at most ~100 ms.
Sealing, replay offsets, dead letters and deletions fsync what they rely on in both modes.

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
from collections.abc import Callable, Sequence
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

__all__ = ["ALWAYS", "FSYNC_MODES", "INTERVAL", "Apply", "Detached", "Spool", "SpoolFull",
           "SpoolStats", "SpoolUnavailable"]

_RESCAN_S = 1.0  # other processes append too: re-sum segment sizes at most this often
ALWAYS, INTERVAL = "always", "interval"
FSYNC_MODES = (INTERVAL, ALWAYS)


class SpoolFull(Exception):
    """max_bytes would be exceeded: the caller must refuse (503 + Retry-After)."""


@dataclass(frozen=True)
class Detached:
    """A segment taken away from appends, still to be sealed (``Spool.seal``)."""

    name: str
    fd: int
    dir_dirty: bool
    upto: int  # Spool.written when it was detached: durable once sealed


@dataclass(frozen=True)
class SpoolStats:
    bytes: int  # on-disk size of all segments: the quantity max_bytes caps
    segments: int
    oldest_age_seconds: float | None  # upper bound: age of the oldest segment still pending
    free_bytes: int


class Spool:
    """Append-only, fsync'd, per-owner segment spool. Create it after fork (one per worker)."""

    def __init__(self, directory: str | os.PathLike[str], *, max_bytes: int = 512 * 2**20,
                 owner: str, segment_bytes: int = 64 * 2**20, fsync: str = ALWAYS,
                 fdatasync: Callable[[int], None] = os.fdatasync) -> None:
        if not re.fullmatch(OWNER, owner):
            raise ValueError(f"owner must match {OWNER}: {owner!r}")
        if fsync not in FSYNC_MODES:
            raise ValueError(f"fsync must be one of {FSYNC_MODES}: {fsync!r}")
        self.directory, self.owner = os.fspath(directory), owner
        self.max_bytes, self.segment_bytes = max_bytes, segment_bytes
        self.fsync = fsync
        self._fdatasync = fdatasync  # tests observe (or fail) the syncs through it
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._owner_fd: int | None = None
        self._seg_size = self._last_n = self._total = 0
        self._scanned_at = -1e9
        # interval mode: what append wrote since the last sync (file data, directory entry)
        self._dirty = self._dir_dirty = False
        # Bytes this instance appended, and how many of them are known to be on disk (the
        # flusher advances it in interval mode); both only grow.
        self.written = self.durable = 0
        self.appended = self.drained = self.torn = self.quarantined = 0
        self.dead_lettered = self.refused = self.synced = self.sync_errors = 0

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
            if self.fsync == ALWAYS:
                fsync_dir(self.directory)
            else:
                self._dir_dirty = True  # the flusher makes the name durable with the data
        except BaseException:
            os.close(fd)
            unlink(tmp)
            raise
        self._fd, self._seg_size = fd, 0

    def _detach(self) -> tuple[int | None, bool]:
        """Take the open segment away from appends (under ``_lock``): (its fd, whether the
        directory still needs an fsync). The caller seals it with :meth:`_seal`."""
        fd, self._fd = self._fd, None
        dir_dirty, self._dirty, self._dir_dirty = self._dir_dirty, False, False
        return fd, dir_dirty

    def _seal(self, fd: int | None, dir_dirty: bool) -> None:
        """fsync a detached segment (and its name), then close it: closing releases the flock,
        so only then may a drainer take it. Runs outside ``_lock``: appends go on meanwhile."""
        if fd is None:
            return
        try:
            self._fdatasync(fd)
            if dir_dirty:
                fsync_dir(self.directory)
        finally:
            os.close(fd)

    def _close_segment(self) -> None:
        self._seal(*self._detach())

    def append(self, records: Sequence[bytes]) -> None:
        """Append records with one write: fdatasync'd before returning in ``always`` mode (so
        batch them: group commit), left to :meth:`sync` within ``FLUSH_S`` in ``interval``."""
        if not records:
            return
        buf = frame(records[0]) if len(records) == 1 else b"".join(frame(r) for r in records)
        n = len(buf)
        with self._lock:
            try:
                age = time.monotonic() - self._scanned_at
                if age > _RESCAN_S or (self._total + n > self.max_bytes and age > 0.05):
                    self._scan()  # O(segments), at most every 50 ms..1 s: amortised O(1)
                if self._total + n > self.max_bytes:
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
                    if self.fsync == ALWAYS:
                        self._fdatasync(fd)
                except OSError:  # never append after a maybe-torn write or a failed fsync
                    self._abandon(fd, start)
                    raise
            except OSError as e:  # as ``disk``, without a context manager per report
                raise SpoolUnavailable(f"spool append failed: {e}") from e
            self._seg_size += n
            self._total += n
            self.appended += len(records)
            self.written += n
            if self.fsync == ALWAYS:
                self.durable = self.written
            else:
                self._dirty = True

    def _abandon(self, fd: int, start: int) -> None:
        """Cut a segment back to its last whole record and close it (under ``_lock``)."""
        self._fd = None
        try:
            os.ftruncate(fd, start)
            if self._dirty:  # earlier interval appends: best effort, as at a seal
                self._dirty = False
                self._fdatasync(fd)
        finally:
            os.close(fd)

    def sync(self) -> bool:
        """fsync what ``interval`` appends left in the page cache; True if there was any.

        The flusher's duty. The open segment's fd is duplicated under the lock and synced
        outside it, so appends never wait for the disk; a segment rotated meanwhile stays
        open (and locked) through the duplicate until its sync is done. A failed fsync is
        counted and raised as :class:`SpoolUnavailable`.
        """
        with self._lock:
            if not (self._dirty or self._dir_dirty):
                return False
            fd = os.dup(self._fd) if self._dirty and self._fd is not None else None
            dir_dirty, self._dirty, self._dir_dirty = self._dir_dirty, False, False
            upto = self.written
        try:
            with disk("sync"):
                try:
                    if fd is not None:
                        self._fdatasync(fd)
                    if dir_dirty:
                        fsync_dir(self.directory)
                finally:
                    if fd is not None:
                        os.close(fd)
        except SpoolUnavailable:
            self.sync_errors += 1
            raise
        self.synced += 1
        self.durable = max(self.durable, upto)
        return True

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
        return self.seal(self.detach())

    def detach(self) -> Detached | None:
        """Take the open segment away from appends (the next one opens a new segment); None
        when none is open. :meth:`seal` must follow: appends wait only for the detach, and
        a caller holding its own lock across the detach need not hold it for the fsync."""
        with self._lock:
            if self._fd is None:
                return None
            name, upto = segment_name(self.owner, self._last_n), self.written
            fd, dir_dirty = self._detach()
            assert fd is not None
            return Detached(name, fd, dir_dirty, upto)

    def seal(self, detached: Detached | None) -> str | None:
        """fsync and close a detached segment (now drainable); its name, or None."""
        if detached is None:
            return None
        with disk("rotate"):
            self._seal(detached.fd, detached.dir_dirty)
        self.durable = max(self.durable, detached.upto)
        return detached.name

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
