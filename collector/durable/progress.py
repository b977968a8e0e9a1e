"""How far each worker's writer has got, shared through tiny mmap'd files in the spool dir.

A 204 means "on disk"; the report reaches Redis up to a linger later. An analyst read
that follows a 204 should see it, even when another worker took the report, so reads wait
(briefly) until every live writer has acknowledged in Redis what it committed to disk, and
bump a counter (``Kicks``) that ends every writer's linger, so they do not wait it out.
"""

from __future__ import annotations

import contextlib
import glob
import mmap
import os
import struct

from collector.durable.owners import owner_alive

_LAG = struct.Struct(">QQ")  # committed sequence, acknowledged sequence
_KICK = struct.Struct(">Q")
KICK_FILE = "kick"


class Progress:
    """This writer's committed and acknowledged sequence, readable by the other workers."""

    def __init__(self, directory: str, writer: str) -> None:
        os.makedirs(directory, exist_ok=True)
        self.path = os.path.join(directory, f"{writer}.lag")
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.ftruncate(fd, _LAG.size)
            self._map = mmap.mmap(fd, _LAG.size)
        finally:
            os.close(fd)
        self.committed = self.acked = 0

    def set(self, committed: int | None = None, acked: int | None = None) -> None:
        self.committed = self.committed if committed is None else committed
        self.acked = self.acked if acked is None else acked
        _LAG.pack_into(self._map, 0, self.committed, self.acked)

    def close(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._map.close()
            os.unlink(self.path)

    @staticmethod
    def settled(directory: str) -> bool:
        """True when every writer's committed records are acknowledged by Redis."""
        for path in glob.glob(os.path.join(directory, "*.lag")):
            try:
                with open(path, "rb") as f:
                    committed, acked = _LAG.unpack(f.read(_LAG.size))
            except (OSError, struct.error):
                continue
            # A dead writer's records are replayed by others later: do not wait for them.
            owner = os.path.basename(path).removesuffix(".lag")
            if acked < committed and owner_alive(directory, owner):
                return False
        return True


class Kicks:
    """A counter in the spool dir: a reader bumps it (``kick``), every writer sees the change
    (``kicked``) on its next look and sends what it holds instead of lingering on."""

    def __init__(self, directory: str) -> None:
        os.makedirs(directory, exist_ok=True)
        fd = os.open(os.path.join(directory, KICK_FILE), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if os.fstat(fd).st_size < _KICK.size:
                os.ftruncate(fd, _KICK.size)
            self._map = mmap.mmap(fd, _KICK.size)
        finally:
            os.close(fd)
        self._seen = self._value()

    def _value(self) -> int:
        value: int = _KICK.unpack_from(self._map, 0)[0]
        return value

    def kicked(self) -> bool:
        """True once per change since the last look."""
        value = self._value()
        if value == self._seen:
            return False
        self._seen = value
        return True

    def close(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._map.close()

    @staticmethod
    def kick(directory: str) -> None:
        """Ask every writer of this spool to send now (best effort: never raises)."""
        with contextlib.suppress(OSError):
            fd = os.open(os.path.join(directory, KICK_FILE), os.O_RDWR | os.O_CREAT, 0o644)
            try:
                raw = os.pread(fd, _KICK.size, 0)
                value = _KICK.unpack(raw)[0] if len(raw) == _KICK.size else 0
                os.pwrite(fd, _KICK.pack((value + 1) % 2**64), 0)
            finally:
                os.close(fd)
