"""Read-your-writes across workers: readers wait only for live writers that lag."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from collector.durable.progress import Progress


def test_settled_only_when_every_live_writer_caught_up(tmp_path: Path) -> None:
    owner = os.open(tmp_path / "w1.owner", os.O_RDWR | os.O_CREAT)
    fcntl.flock(owner, fcntl.LOCK_EX)  # w1 is alive
    progress = Progress(str(tmp_path), "w1")
    assert Progress.settled(str(tmp_path))
    progress.set(committed=5)
    assert not Progress.settled(str(tmp_path))
    progress.set(acked=5)
    assert Progress.settled(str(tmp_path))
    progress.set(committed=9)
    os.close(owner)  # w1 died: its spool is replayed by others, nobody waits for it
    assert Progress.settled(str(tmp_path))
    progress.close()
    assert not (tmp_path / "w1.lag").exists()
