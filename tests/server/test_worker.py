"""Connections are spread over the workers: a burst of keep-alive connections must not all
land on one process (which would serve them on one core for their lifetime)."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from collector.server import worker
from tests.helpers import Served


def _established(pid: int, port: int, state: str = "01") -> int:
    """Connections to ``port`` that process ``pid`` holds (01 ESTABLISHED, 08 CLOSE_WAIT)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    with open("/proc/net/tcp") as table:
        for row in table.readlines()[1:]:
            fields = row.split()
            local_port = int(fields[1].split(":")[1], 16)
            if local_port == port and fields[3] == state and fields[9] in inodes:
                count += 1
    return count


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    s = Served(tmp_path / "data")
    yield s
    s.stop()


def _workers(served: Served) -> list[int]:
    with open(f"/proc/{served.proc.pid}/task/{served.proc.pid}/children") as f:
        children = [int(p) for p in f.read().split()]
    return [p for p in children if "redis" not in Path(f"/proc/{p}/cmdline").read_text()]


@pytest.mark.e2e
def test_a_burst_of_connections_is_spread_over_the_workers(served: Served) -> None:
    workers = _workers(served)
    assert len(workers) == 2
    for _ in range(5):
        conns = [socket.create_connection(("127.0.0.1", served.port), timeout=5)
                 for _ in range(8)]
        try:
            for c in conns:  # one request each, so every connection has been accepted
                c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            for c in conns:
                assert c.recv(4096).startswith(b"HTTP/1.1 200")
            held = [_established(p, served.port) for p in workers]
            assert sum(held) == 8
            assert min(held) >= 3, held  # even, within the one-connection tolerance
        finally:
            for c in conns:
                c.close()
        # the next burst starts once the workers have reaped these (they count until then)
        deadline = time.monotonic() + 5
        while any(_established(p, served.port, "08") for p in workers):
            assert time.monotonic() < deadline
            time.sleep(0.01)


def test_a_worker_far_above_the_least_loaded_live_one_stops_accepting() -> None:
    w = worker.ThreadWorker.__new__(worker.ThreadWorker)
    w.nr_conns = 5
    other = os.getppid()  # a live process that is not this one
    try:
        worker._SLOT.pack_into(worker._TABLE, 0, other, 3)
        assert w.overloaded()  # 5 > 3 + 1
        worker._SLOT.pack_into(worker._TABLE, 0, other, 4)
        assert not w.overloaded()  # within one connection: keep accepting
        worker._SLOT.pack_into(worker._TABLE, 0, 2**22 + 12345, 0)  # no such pid
        assert not w.overloaded()  # a dead worker's slot does not count
    finally:
        worker._SLOT.pack_into(worker._TABLE, 0, 0, 0)


def test_the_master_frees_a_killed_workers_slot() -> None:
    class Dead:
        age = 3

    worker._SLOT.pack_into(worker._TABLE, 3 * worker._SLOT.size, os.getppid(), 9)
    worker.release(Dead())
    assert worker._SLOT.unpack_from(worker._TABLE, 3 * worker._SLOT.size) == (0, 0)
