"""How far each worker's writer has got, shared through tiny mmap'd files in the spool dir.

A 204 means "on disk"; the report reaches Redis a few milliseconds later. An analyst read
that follows a 204 should see it, even when another worker took the report, so reads wait
(briefly) until every live writer has acknowledged in Redis what it committed to disk.
"""

from __future__ import annotations

import contextlib
import glob
import mmap
import os
import struct

from collector.durable.owners import owner_alive

_LAG = struct.Struct(">QQ")  # committed sequence, acknowledged sequence


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
