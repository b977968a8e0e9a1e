"""Reading segments back: replay with committed offsets, and skip or park damaged regions.

Why: a replay may stop at any point (the consumer fails, the process dies) and must resume
without applying a record twice, so each acknowledged batch is followed by its offset in
the ``.off`` sidecar. Damage never stops a replay: a torn tail (a crash mid-append, never
acknowledged) is skipped, and a corrupt region is copied to ``quarantine/`` for a human.
"""

from __future__ import annotations

import fcntl
import mmap
import os
from collections.abc import Callable
from typing import Protocol

from collector.durable.frames import HEADER, INCOMPLETE, OK, parse, resync
from collector.durable.segments import fsync_dir, read_offset, unlink, write_file, write_offset

Apply = Callable[[list[bytes]], None]


class Tally(Protocol):
    """The counters a replay advances (a :class:`~collector.durable.spool.Spool`'s own)."""

    drained: int
    torn: int
    quarantined: int


class ApplyFailed(Exception):
    """Carries the consumer's own exception past the OSError -> SpoolUnavailable mapping."""

    def __init__(self, err: Exception) -> None:
        super().__init__(err)
        self.err = err


def drain_segment(directory: str, name: str, apply: Apply, batch: int,
                  tally: Tally) -> tuple[int, bool, int]:
    """Replay one segment then delete it: (records applied, done, bytes deleted).

    Not done (and nothing read) while a live owner holds the segment open.
    """
    path = os.path.join(directory, name)
    try:
        f = open(path, "rb")  # noqa: SIM115 - held for the flock across the whole replay
    except FileNotFoundError:
        return 0, True, 0
    with f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return 0, False, 0  # a live owner's open segment
        size = os.fstat(f.fileno()).st_size
        pos = read_offset(path + ".off")
        applied = _replay(f.fileno(), directory, name, 0 if pos > size else pos, size, apply,
                          batch, tally)
        os.unlink(path)  # every record is acknowledged, torn or quarantined
        unlink(path + ".off")
        fsync_dir(directory)
    return applied, True, size


def _replay(fd: int, directory: str, name: str, pos: int, size: int, apply: Apply, batch: int,
            tally: Tally) -> int:
    if pos >= size:
        return 0
    pending: list[bytes] = []
    applied = 0
    off_fd = os.open(os.path.join(directory, name + ".off"), os.O_WRONLY | os.O_CREAT, 0o644)

    def commit(upto: int) -> None:  # ack the pending batch, then persist the offset
        nonlocal applied
        if pending:
            try:
                apply(list(pending))
            except Exception as e:
                raise ApplyFailed(e) from e
            applied, tally.drained = applied + len(pending), tally.drained + len(pending)
            pending.clear()
        write_offset(off_fd, upto)

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
                    tally.torn += 1  # crash mid-append or zero-filled tail: never acked
                else:
                    os.makedirs(os.path.join(directory, "quarantine"), exist_ok=True)
                    bad = mm[pos : size if nxt is None else nxt]
                    write_file(os.path.join(directory, f"quarantine/{name}.{pos}.bad"), bad,
                               os.O_TRUNC)
                    tally.quarantined += 1
                pos = size if nxt is None else nxt
                commit(pos)
            if pending:
                commit(pos)
    finally:
        os.close(off_fd)
    return applied


def read_records(path: str) -> list[bytes]:
    """The intact records of a segment, in order (damaged regions are left for drain)."""
    out: list[bytes] = []
    with open(path, "rb") as f:
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
