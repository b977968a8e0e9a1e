"""COLLECTOR_SPOOL_FSYNC: what reaches the disk when, in ``interval`` and ``always`` mode.

No timing assertion: the fdatasync is injected (it records which file it synced and how much
of it had been written), and the flusher's loop runs on a sleep function the test steps.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from collector.config import ConfigError, Settings
from collector.durable import spool as spool_mod
from collector.durable.flusher import FLUSH_S, PROMISE_S, Flusher
from collector.durable.spool import Spool, SpoolUnavailable

ROOT = Path(__file__).resolve().parents[2]


class Syncs:
    """An fdatasync that records (file name, bytes the file held) and then really syncs."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []
        self.fail = False

    def __call__(self, fd: int) -> None:
        if self.fail:
            raise OSError(5, "Input/output error")
        self.calls.append((os.path.basename(os.readlink(f"/proc/self/fd/{fd}")),
                           os.fstat(fd).st_size))
        os.fdatasync(fd)


@pytest.fixture
def dirs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Directory fsyncs, recorded."""
    seen: list[str] = []
    real = spool_mod.fsync_dir

    def record(path: str) -> None:
        seen.append(path)
        real(path)

    monkeypatch.setattr(spool_mod, "fsync_dir", record)
    return seen


def test_always_syncs_every_append_before_returning(tmp_path: Path, dirs: list[str]) -> None:
    syncs = Syncs()
    sp = Spool(tmp_path, owner="w", fsync="always", fdatasync=syncs)
    sp.append([b"a"])
    sp.append([b"b", b"c"])
    assert [n for n, _ in syncs.calls] == [syncs.calls[0][0]] * 2
    assert syncs.calls[-1][1] == sp.written == sp.durable
    assert dirs == [str(tmp_path)]  # the new segment's name, before its first record returned
    assert sp.sync() is False  # nothing is left for a flusher


def test_interval_append_returns_before_the_sync_and_the_flusher_catches_up(
        tmp_path: Path, dirs: list[str]) -> None:
    syncs = Syncs()
    sp = Spool(tmp_path, owner="w", fsync="interval", fdatasync=syncs)
    sp.append([b"a"])
    sp.append([b"b"])
    assert syncs.calls == [] and dirs == []  # in the page cache only: no process crash loses it
    assert sp.durable == 0 < sp.written
    flusher = Flusher(sp)
    assert flusher.run_once() is True
    (name, size), = syncs.calls
    assert name.endswith(".seg") and size == sp.written == sp.durable
    assert dirs == [str(tmp_path)]  # the segment's name is durable with its first records
    assert flusher.run_once() is False and len(syncs.calls) == 1  # idle: no fsync at all


def test_flusher_loop_syncs_after_each_sleep_of_at_most_half_the_promise(
        tmp_path: Path) -> None:
    syncs = Syncs()
    sp = Spool(tmp_path, owner="w", fsync="interval", fdatasync=syncs)
    asked: list[float] = []
    durable_after: list[int] = []

    def sleep(seconds: float) -> bool:
        """One step of time: check what the last sync covered, write more, go on 3 times."""
        asked.append(seconds)
        durable_after.append(sp.durable)
        if len(asked) <= 3:
            sp.append([b"r%d" % len(asked)])
            return False
        return True

    Flusher(sp, sleep=sleep)._loop()
    assert asked == [FLUSH_S] * 4 and FLUSH_S <= PROMISE_S / 2
    # Whatever was written before a sleep was on disk when the next sleep began.
    assert durable_after[1:] == [sp.written * k // 3 for k in (1, 2, 3)]
    assert len(syncs.calls) == 3
    with pytest.raises(ValueError):
        Flusher(sp, every=PROMISE_S)  # a sync could then end later than promised


def test_seal_syncs_file_and_name_in_interval_mode(tmp_path: Path, dirs: list[str]) -> None:
    syncs = Syncs()
    sp = Spool(tmp_path, owner="w", fsync="interval", fdatasync=syncs)
    sp.append([b"a", b"b"])
    name = sp.rotate()
    assert name is not None and syncs.calls == [(name, sp.written)]
    assert dirs == [str(tmp_path)] and sp.durable == sp.written
    assert sp.sync() is False  # the seal took everything with it


def test_sync_of_a_rotated_segment_keeps_it_locked_until_synced(tmp_path: Path) -> None:
    """The flusher syncs through a duplicate fd: a rotation meanwhile must not make the
    segment drainable before that sync ends (the flock lives as long as any fd)."""
    seen: list[bool] = []
    calls: list[int] = []
    sp: Spool

    def sync_then_check(fd: int) -> None:
        calls.append(fd)
        if len(calls) == 1:  # the flusher's sync: rotate while it is "on the disk"
            sp.rotate()  # (its own seal is call 2)
            probe = os.open(os.readlink(f"/proc/self/fd/{fd}"), os.O_RDONLY)
            try:
                fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
                seen.append(False)
            except BlockingIOError:
                seen.append(True)
            finally:
                os.close(probe)
        os.fdatasync(fd)

    sp = Spool(tmp_path, owner="w", fsync="interval", fdatasync=sync_then_check)
    sp.append([b"a"])
    assert sp.sync() is True
    assert seen == [True] and len(calls) == 2


def test_a_failing_fsync_is_counted_and_the_flusher_goes_on(tmp_path: Path) -> None:
    syncs = Syncs()
    sp = Spool(tmp_path, owner="w", fsync="interval", fdatasync=syncs)
    sp.append([b"a"])
    syncs.fail = True
    with pytest.raises(SpoolUnavailable):
        sp.sync()
    assert sp.sync_errors == 1
    sp.append([b"b"])
    assert Flusher(sp).run_once() is False and sp.sync_errors == 2
    syncs.fail = False
    sp.append([b"c"])
    assert Flusher(sp).run_once() is True and sp.durable == sp.written


def test_a_killed_process_loses_no_interval_append(tmp_path: Path) -> None:
    """SIGKILL right after the appends returned, before any fsync: the page cache keeps
    them, and another owner replays them (a process crash is not a power loss)."""
    code = textwrap.dedent("""
        import os, signal, sys
        from collector.durable.spool import Spool
        sp = Spool(sys.argv[1], owner="victim", fsync="interval",
                   fdatasync=lambda fd: None)  # never on disk before the kill
        for i in range(50):
            sp.append([b"r%d" % i])
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=ROOT, check=False,
                          timeout=60)
    assert proc.returncode == -signal.SIGKILL
    got: list[bytes] = []
    Spool(tmp_path, owner="rescuer").drain(got.extend)
    assert got == [b"r%d" % i for i in range(50)]


def test_the_mode_is_a_setting_defaulting_to_interval() -> None:
    assert Settings().spool_fsync == "interval"
    assert Settings.from_env({"COLLECTOR_SPOOL_FSYNC": "Always"}).spool_fsync == "always"
    with pytest.raises(ConfigError, match="COLLECTOR_SPOOL_FSYNC"):
        Settings.from_env({"COLLECTOR_SPOOL_FSYNC": "never"})
    with pytest.raises(ValueError):
        Spool("/nonexistent", owner="w", fsync="never")
