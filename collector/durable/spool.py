"""Durable local spool for reports that could not be written to Redis (reliability.md §6.5).

Why: TrustKit never retries, so a 204 must mean "durable in Redis *or* fsync'd here".
Each writer (``owner``) appends to its own segment files and holds an exclusive ``flock`` on
the open one. An unlocked segment is therefore sealed (rotated) or the orphan of a dead
process, and the single elected drainer (``drain.lock``) may replay and then delete it.

Layout of ``directory``:
  <owner>.<n>.seg      records, each a ``collector.frames`` frame;
                       n = creation time in ns, strictly increasing per owner (replay order)
  <owner>.<n>.seg.off  committed offset u64 BE | crc32 u32 BE (missing or bad: replay from 0)
  drain.lock           directory-level flock electing one drainer
  quarantine/<seg>.<offset>.bad   raw bytes of a corrupt region
  dead-letter.ndjson   {"at", "reason", "record" (UTF-8 text) | "record_b64"} per line
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import mmap
import os
import re
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from collector.durable.frames import HEADER, INCOMPLETE, OK, frame, parse, resync

_OFF = struct.Struct(">QI")
_RESCAN_S = 1.0  # other processes append too: re-sum segment sizes at most this often
_OWNER = r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,199}"  # e.g. "<host>-<pid>-<random>"; no leading dot
_SEG_RE = re.compile(rf"({_OWNER})\.(\d{{1,20}})\.seg")
Apply = Callable[[list[bytes]], None]


class SpoolFull(Exception):
    """max_bytes would be exceeded: the caller must refuse (503 + Retry-After)."""


class SpoolUnavailable(Exception):
    """Disk error or unusable directory (the OSError is the ``__cause__``)."""


@dataclass(frozen=True)
class SpoolStats:
    bytes: int  # on-disk size of all segments: the quantity max_bytes caps
    segments: int
    oldest_age_seconds: float | None  # upper bound: age of the oldest segment still pending
    free_bytes: int


class _ApplyFailed(Exception):
    """Carries the consumer's own exception past the OSError -> SpoolUnavailable mapping."""

    def __init__(self, err: Exception) -> None:
        super().__init__(err)
        self.err = err


@contextlib.contextmanager
def _disk(what: str) -> Iterator[None]:
    try:
        yield
    except OSError as e:
        raise SpoolUnavailable(f"spool {what} failed: {e}") from e


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _write_file(path: str, data: bytes, flag: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | flag, 0o644)
    try:
        _write_all(fd, data)
        os.fdatasync(fd)
    finally:
        os.close(fd)


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _fsync_dir(path: str) -> None:
    """Make a create/rename/unlink durable, not just the file contents."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_off(path: str) -> int:
    try:
        with open(path, "rb") as f:
            data = f.read(_OFF.size)
    except FileNotFoundError:
        return 0
    ok = len(data) == _OFF.size and zlib.crc32(data[:8]) == _OFF.unpack(data)[1]
    return int.from_bytes(data[:8], "big") if ok else 0


def owner_alive(directory: str, owner: str) -> bool:
    """True while the process that owns ``owner``'s segments holds its owner lock."""
    try:
        fd = os.open(os.path.join(directory, f"{owner}.owner"), os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


class Spool:
    """Append-only, fsync'd, per-owner segment spool. Create it after fork (one per worker)."""

    def __init__(self, directory: str | os.PathLike[str], *, max_bytes: int = 512 * 2**20,
                 owner: str, segment_bytes: int = 64 * 2**20) -> None:
        if not re.fullmatch(_OWNER, owner):
            raise ValueError(f"owner must match {_OWNER}: {owner!r}")
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

    def _segments(self) -> list[tuple[str, int, str]]:
        """(owner, n, name), sorted so that each owner's append order is kept."""
        found = (_SEG_RE.fullmatch(name) for name in os.listdir(self.directory))
        return sorted((m[1], int(m[2]), m[0]) for m in found if m)

    def _scan(self, with_age: bool = False) -> SpoolStats:
        total, count, oldest = 0, 0, None
        with contextlib.suppress(FileNotFoundError):
            for _, n, name in self._segments():
                try:
                    size = os.stat(self._path(name)).st_size
                except FileNotFoundError:
                    continue
                total, count = total + size, count + 1
                if with_age and (oldest is None or n < oldest):
                    oldest = n if size > _read_off(self._path(name + ".off")) else oldest
        self._total, self._scanned_at = total, time.monotonic()
        age = None if oldest is None else max(0.0, (time.time_ns() - oldest) / 1e9)
        return SpoolStats(total, count, age, max(0, self.max_bytes - total))

    def _hold_owner_lock(self) -> None:
        """Held for this owner's lifetime: drainers skip a live owner's sealed segments."""
        if self._owner_fd is None:
            fd = os.open(self._path(f"{self.owner}.owner"), os.O_RDWR | os.O_CREAT, 0o644)
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._owner_fd = fd

    def _owner_alive(self, owner: str) -> bool:
        return owner_alive(self.directory, owner)

    def _open_segment(self) -> None:
        os.makedirs(self.directory, exist_ok=True)
        self._hold_owner_lock()
        if not self._last_n:  # a restarted owner with a stable id must not reuse n
            self._last_n = max((n for o, n, _ in self._segments() if o == self.owner), default=0)
        self._last_n = n = max(time.time_ns(), self._last_n + 1)
        name = f"{self.owner}.{n}.seg"
        tmp = self._path(f".{name}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:  # lock before the name is visible, so no drainer ever takes it for an orphan
            fcntl.flock(fd, fcntl.LOCK_EX)
            _unlink(self._path(name + ".off"))
            os.rename(tmp, self._path(name))
            _fsync_dir(self.directory)
        except BaseException:
            os.close(fd)
            _unlink(tmp)
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
        with self._lock, _disk("append"):
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
                _write_all(fd, buf)
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
        with self._lock, _disk("scan"):
            return self._scan(with_age=True)

    def drain(self, apply: Apply, *, batch: int = 500, orphans_only: bool = False) -> int:
        """Replay sealed and orphaned segments, oldest first per owner; return records applied.

        Returns 0 at once if another drainer (thread or process) holds ``drain.lock``. If
        ``apply`` raises, that exception propagates; batches acknowledged before it stay
        committed in ``.off`` and are not re-applied. ``apply`` may call :meth:`dead_letter`
        for a poison record and return normally: the record then counts as acknowledged.
        """
        with _disk("drain"):
            os.makedirs(self.directory, exist_ok=True)
            lock_fd = os.open(self._path("drain.lock"), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return 0
            with _disk("drain"):
                if not orphans_only:
                    with self._lock:
                        self._close_segment()  # rotate: the next append opens a fresh segment
                applied, blocked = 0, set[str]()
                if orphans_only:  # a live owner replays its own segments, in its own order
                    blocked = {o for o, _, _ in self._segments()
                               if o == self.owner or self._owner_alive(o)}
                for owner, _, name in self._segments():
                    if owner not in blocked:  # never replay past a live segment of one owner
                        n, done = self._drain_segment(name, apply, batch)
                        applied += n
                        if not done:
                            blocked.add(owner)
                self._sweep()
                return applied
        except _ApplyFailed as e:
            raise e.err from None
        finally:
            os.close(lock_fd)

    def _drain_segment(self, name: str, apply: Apply, batch: int) -> tuple[int, bool]:
        path = self._path(name)
        try:
            f = open(path, "rb")  # noqa: SIM115 - held for the flock across the whole replay
        except FileNotFoundError:
            return 0, True
        with f:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return 0, False  # a live owner's open segment
            size = os.fstat(f.fileno()).st_size
            pos = _read_off(path + ".off")
            applied = self._replay(f.fileno(), name, 0 if pos > size else pos, size, apply, batch)
            os.unlink(path)  # every record is acknowledged, torn or quarantined
            _unlink(path + ".off")
            _fsync_dir(self.directory)
        with self._lock:
            self._total = max(0, self._total - size)
        return applied, True

    def _replay(self, fd: int, name: str, pos: int, size: int, apply: Apply, batch: int) -> int:
        if pos >= size:
            return 0
        pending: list[bytes] = []
        applied = 0
        off_fd = os.open(self._path(name + ".off"), os.O_WRONLY | os.O_CREAT, 0o644)

        def commit(upto: int) -> None:  # ack the pending batch, then persist the offset
            nonlocal applied
            if pending:
                try:
                    apply(list(pending))
                except Exception as e:
                    raise _ApplyFailed(e) from e
                applied, self.drained = applied + len(pending), self.drained + len(pending)
                pending.clear()
            raw = upto.to_bytes(8, "big")
            os.pwrite(off_fd, raw + zlib.crc32(raw).to_bytes(4, "big"), 0)  # one sector
            os.fdatasync(off_fd)

        try:
            with mmap.mmap(fd, size, access=mmap.ACCESS_READ) as mm:
                while pos < size:
                    status, end = parse(mm, pos, size)
                    if status == OK:
                        pending.append(mm[pos + HEADER.size : end])
                        pos = end
                        if len(pending) >= batch:
                            commit(pos)
                        continue
                    if pending:  # ack what precedes the damage, so nothing is counted twice
                        commit(pos)
                    nxt = resync(mm, pos + 1, size)
                    if nxt is None and (status == INCOMPLETE or not mm[pos:size].strip(b"\0")):
                        self.torn += 1  # crash mid-append or zero-filled tail: never acked
                    else:
                        os.makedirs(self._path("quarantine"), exist_ok=True)
                        bad = mm[pos : size if nxt is None else nxt]
                        _write_file(self._path(f"quarantine/{name}.{pos}.bad"), bad, os.O_TRUNC)
                        self.quarantined += 1
                    pos = size if nxt is None else nxt
                    commit(pos)
                if pending:
                    commit(pos)
        finally:
            os.close(off_fd)
        return applied

    def _sweep(self) -> None:
        """Drop sidecars of deleted segments and temp files of writers that died mid-create."""
        names = set(os.listdir(self.directory))
        owners = {o for o, _, _ in self._segments()}
        for name in names:
            owner = name.removesuffix(".owner")
            if name.endswith(".owner") and owner != self.owner and owner not in owners \
                    and not self._owner_alive(owner):
                _unlink(self._path(name))
            with contextlib.suppress(FileNotFoundError):
                if (name.endswith(".seg.off") and name[:-4] not in names) or (
                    name.endswith(".tmp") and time.time() - os.stat(self._path(name)).st_mtime > 60
                ):
                    os.unlink(self._path(name))

    def rotate(self) -> str | None:
        """Seal the open segment (fsync'd) and return its name; the next append opens anew."""
        with self._lock, _disk("rotate"):
            if self._fd is None:
                return None
            name = f"{self.owner}.{self._last_n}.seg"
            self._close_segment()
            return name

    def own_sealed(self) -> list[str]:
        """This owner's sealed segments, oldest first."""
        with self._lock, _disk("scan"):
            current = f"{self.owner}.{self._last_n}.seg" if self._fd is not None else None
            return [name for owner, _, name in self._segments()
                    if owner == self.owner and name != current]

    def records(self, name: str) -> list[bytes]:
        """The intact records of a segment, in order (damaged regions are left for drain)."""
        out: list[bytes] = []
        with _disk("read"), open(self._path(name), "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if not size:
                return out
            with mmap.mmap(f.fileno(), size, access=mmap.ACCESS_READ) as mm:
                pos = 0
                while pos < size:
                    status, end = parse(mm, pos, size)
                    if status != OK:
                        nxt = resync(mm, pos + 1, size)
                        if nxt is None:
                            break
                        pos = nxt
                        continue
                    out.append(mm[pos + HEADER.size : end])
                    pos = end
        return out

    def size(self, name: str) -> int:
        """Bytes of one segment (0 once it is gone)."""
        try:
            return os.stat(self._path(name)).st_size
        except FileNotFoundError:
            return 0

    def discard(self, name: str) -> None:
        """Delete a sealed segment whose records are all acknowledged elsewhere."""
        with self._lock, _disk("discard"):
            path = self._path(name)
            try:
                size = os.stat(path).st_size
            except FileNotFoundError:
                return
            _unlink(path)
            _unlink(path + ".off")
            self._total = max(0, self._total - size)

    def dead_letter(self, record: bytes, reason: str) -> None:
        """Park a record the consumer rejects for good (fsync'd), so replay never loops on it."""
        try:
            body = {"record": record.decode()}
        except UnicodeDecodeError:
            body = {"record_b64": base64.b64encode(record).decode()}
        line = json.dumps({"at": time.time(), "reason": reason, **body}, separators=(",", ":"))
        with self._lock, _disk("dead-letter"):
            os.makedirs(self.directory, exist_ok=True)
            _write_file(self._path("dead-letter.ndjson"), line.encode() + b"\n", os.O_APPEND)
            self.dead_lettered += 1

    def stats(self) -> dict[str, int]:
        """Process-local counters since this instance was created."""
        keys = ("appended", "drained", "torn", "quarantined", "dead_lettered", "refused")
        return {k: getattr(self, k) for k in keys}

    def close(self) -> None:
        """fsync and close the open segment, releasing its flock (so it becomes drainable)."""
        with self._lock, _disk("close"):
            self._close_segment()
            if self._owner_fd is not None:
                os.close(self._owner_fd)  # the owner is gone: its segments are orphans now
                self._owner_fd = None
