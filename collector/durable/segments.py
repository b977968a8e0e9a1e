"""The spool's files on disk: their names, the committed-offset sidecars, fsync'd writes.

Why a module of its own: every rule about what a name means (whose segment, which order)
and about when a change is durable (file *and* directory fsync) lives in one place, shared
by the writing side (``spool``) and the replaying side (``replay``).

Layout of a spool directory:
  <owner>.<n>.seg      records, each a ``collector.durable.frames`` frame;
                       n = creation time in ns, strictly increasing per owner (replay order)
  <owner>.<n>.seg.off  committed offset u64 BE | crc32 u32 BE (missing or bad: replay from 0)
  <owner>.owner        flock held for the owner's lifetime (see ``owners``)
  drain.lock           directory-level flock electing one drainer
  quarantine/<seg>.<offset>.bad   raw bytes of a corrupt region
  dead-letter.ndjson   {"at", "reason", "record" (UTF-8 text) | "record_b64"} per line
"""

from __future__ import annotations

import contextlib
import os
import re
import struct
import time
import zlib
from collections.abc import Iterator

from collector.durable.owners import owner_alive

OWNER = r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,199}"  # e.g. "<host>-<pid>-<random>"; no leading dot
_SEG_RE = re.compile(rf"({OWNER})\.(\d{{1,20}})\.seg")
_OFF = struct.Struct(">QI")


class SpoolUnavailable(Exception):
    """Disk error or unusable directory (the OSError is the ``__cause__``)."""


@contextlib.contextmanager
def disk(what: str) -> Iterator[None]:
    """Map any OSError inside to :class:`SpoolUnavailable`."""
    try:
        yield
    except OSError as e:
        raise SpoolUnavailable(f"spool {what} failed: {e}") from e


def segment_name(owner: str, n: int) -> str:
    return f"{owner}.{n}.seg"


def list_segments(directory: str) -> list[tuple[str, int, str]]:
    """(owner, n, name), sorted so that each owner's append order is kept."""
    found = (_SEG_RE.fullmatch(name) for name in os.listdir(directory))
    return sorted((m[1], int(m[2]), m[0]) for m in found if m)


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def write_file(path: str, data: bytes, flag: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | flag, 0o644)
    try:
        write_all(fd, data)
        os.fdatasync(fd)
    finally:
        os.close(fd)


def unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def fsync_dir(path: str) -> None:
    """Make a create/rename/unlink durable, not just the file contents."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_offset(path: str) -> int:
    """The committed offset stored in a ``.off`` sidecar; 0 when missing or damaged."""
    try:
        with open(path, "rb") as f:
            data = f.read(_OFF.size)
    except FileNotFoundError:
        return 0
    ok = len(data) == _OFF.size and zlib.crc32(data[:8]) == _OFF.unpack(data)[1]
    return int.from_bytes(data[:8], "big") if ok else 0


def write_offset(fd: int, upto: int) -> None:
    """Persist a committed offset: one sector, checksummed, so a torn write reads as 0."""
    raw = upto.to_bytes(8, "big")
    os.pwrite(fd, raw + zlib.crc32(raw).to_bytes(4, "big"), 0)
    os.fdatasync(fd)


def measure(directory: str, with_age: bool) -> tuple[int, int, int | None]:
    """(bytes, segments, n of the oldest segment not fully replayed if with_age) on disk."""
    total, count, oldest = 0, 0, None
    with contextlib.suppress(FileNotFoundError):
        for _, n, name in list_segments(directory):
            path = os.path.join(directory, name)
            try:
                size = os.stat(path).st_size
            except FileNotFoundError:
                continue
            total, count = total + size, count + 1
            if with_age and (oldest is None or n < oldest):
                oldest = n if size > read_offset(path + ".off") else oldest
    return total, count, oldest


def sweep(directory: str, owner: str) -> None:
    """Drop files no segment needs: sidecars of deleted segments, lock files of dead owners
    with no segments left (never ``owner``'s, the caller's), temp files of dead creators."""
    names = set(os.listdir(directory))
    owners = {o for o, _, _ in list_segments(directory)}
    for name in names:
        other = name.removesuffix(".owner")
        if name.endswith(".owner") and other != owner and other not in owners \
                and not owner_alive(directory, other):
            unlink(os.path.join(directory, name))
        with contextlib.suppress(FileNotFoundError):
            path = os.path.join(directory, name)
            if (name.endswith(".seg.off") and name[:-4] not in names) or (
                name.endswith(".tmp") and time.time() - os.stat(path).st_mtime > 60
            ):
                os.unlink(path)
