"""Owner locks: which writer processes are alive, as seen from any other process.

Why: a drainer may replay a segment only once no live writer can still append to it or
replay it itself. Each owner holds an exclusive ``flock`` on ``<owner>.owner`` for its
lifetime; the kernel drops it when the process dies, however it dies, so liveness needs no
pid files, heartbeats or clocks.
"""

from __future__ import annotations

import fcntl
import os


def _lock_path(directory: str, owner: str) -> str:
    return os.path.join(directory, f"{owner}.owner")


def owner_alive(directory: str, owner: str) -> bool:
    """True while the process that owns ``owner``'s segments holds its owner lock."""
    try:
        fd = os.open(_lock_path(directory, owner), os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def hold_owner_lock(directory: str, owner: str) -> int:
    """Take ``owner``'s lock (blocking) and return its fd: closing the fd releases it."""
    fd = os.open(_lock_path(directory, owner), os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd
