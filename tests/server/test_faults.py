"""Faults under load through real gunicorn: every report answered 204 is counted once.

Loopback only and bounded in time: Redis is SIGKILLed and restarted, SIGSTOPped, a worker
is SIGKILLed, and the spool is made too small; afterwards the counted reports must equal
the 204s (a killed worker may have counted a report whose 204 it never sent). Each runs in
both durability modes (COLLECTOR_SPOOL_FSYNC): ``interval`` answers before the fsync, and
a process crash must still lose nothing.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from collector.aggregates.writer import Stamped
from collector.durable.frames import HEADER, frame
from collector.durable.sink import encode
from collector.durable.spool import Spool
from collector.server.embedded import RedisServer
from tests.helpers import Served, example, report

pytestmark = pytest.mark.faults

BODY = json.loads(example("trustkit-ios.json"))


class Load:
    """Threads posting distinct reports until stopped; tallies every outcome."""

    def __init__(self, served: Served, threads: int = 4) -> None:
        self.served = served
        self.outcomes: Counter[str] = Counter()
        self.slowest = 0.0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._n = 0
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _body(self) -> bytes:
        with self._lock:
            self._n += 1
            n = self._n
        doc: dict[str, Any] = dict(BODY, **{"app-vendor-id": f"device-{n}"})
        return json.dumps(doc).encode()

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                status, _ = self.served.request("POST", "/v1/reports", self._body(),
                                                {"Content-Type": "application/json"})
                outcome = str(status)
            except OSError:
                outcome = "connection-error"
            with self._lock:
                self.outcomes[outcome] += 1
                self.slowest = max(self.slowest, time.monotonic() - started)
            time.sleep(0.002)

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(15)


def settle(served: Served, expected: int, timeout: float = 40.0) -> int:
    deadline = time.monotonic() + timeout
    counted = -1
    while time.monotonic() < deadline:
        counted = served.summary()["reports"]
        if counted >= expected:
            time.sleep(1.0)  # nothing more may arrive: exactly once, not at least once
            return int(served.summary()["reports"])
        time.sleep(0.25)
    return counted


def workers(master: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(master)], capture_output=True,
                         text=True, check=False).stdout
    return [int(p) for p in out.split()]


@pytest.fixture
def redis_aof(tmp_path: Path) -> Any:
    server = RedisServer(tmp_path / "redis", appendonly=True).start()
    yield server
    server.stop()


def serve_with(tmp_path: Path, redis_url: str, **env: str) -> Served:
    return Served(tmp_path / "data", env={"REDIS_URL": redis_url,
                                          "COLLECTOR_API_TOKENS": "fault-token", **env})


MODES = pytest.mark.parametrize("fsync", ["interval", "always"])


@MODES
def test_redis_killed_restarted_and_worker_killed(tmp_path: Path, redis_aof: RedisServer,
                                                  fsync: str) -> None:
    served = serve_with(tmp_path, redis_aof.url, COLLECTOR_SPOOL_FSYNC=fsync)
    try:
        with Load(served) as load:
            time.sleep(1.5)
            redis_aof.process.kill()  # type: ignore[union-attr]
            time.sleep(2.5)
            redis_aof.start()
            time.sleep(1.0)
            os.kill(workers(served.proc.pid)[0], signal.SIGKILL)
            time.sleep(2.0)
        ok = load.outcomes["204"]
        assert ok > 100
        assert set(load.outcomes) <= {"204", "connection-error"}, load.outcomes
        counted = settle(served, ok)
        assert ok <= counted <= ok + load.outcomes["connection-error"], (counted, load.outcomes)
    finally:
        served.stop()


@MODES
def test_redis_hang_does_not_stall_reports(tmp_path: Path, redis_aof: RedisServer,
                                           fsync: str) -> None:
    served = serve_with(tmp_path, redis_aof.url, COLLECTOR_SPOOL_FSYNC=fsync)
    pid = redis_aof.process.pid  # type: ignore[union-attr]
    try:
        with Load(served, threads=2) as load:
            time.sleep(0.5)
            os.kill(pid, signal.SIGSTOP)
            time.sleep(3.0)
            os.kill(pid, signal.SIGCONT)
            time.sleep(1.0)
        assert set(load.outcomes) == {"204"}, load.outcomes
        assert load.slowest < 2.0  # Redis hung for 3 s: no request waited on it
        assert settle(served, load.outcomes["204"]) == load.outcomes["204"]
    finally:
        os.kill(pid, signal.SIGCONT)
        served.stop()


@MODES
def test_full_spool_with_redis_down_is_503_never_500(tmp_path: Path, redis_aof: RedisServer,
                                                     fsync: str) -> None:
    served = serve_with(tmp_path, redis_aof.url, COLLECTOR_SPOOL_MAX_BYTES="40000",
                        COLLECTOR_SPOOL_FSYNC=fsync)
    try:
        redis_aof.stop()
        statuses: Counter[int] = Counter()
        retry_after = set()
        for i in range(40):
            doc = dict(BODY, **{"app-vendor-id": f"full-{i}"})
            conn_status, body = served.request("POST", "/v1/reports", json.dumps(doc).encode(),
                                               {"Content-Type": "application/json"})
            statuses[conn_status] += 1
            if conn_status == 503:
                retry_after.add(json.loads(body)["status"])
        assert set(statuses) == {204, 503}, statuses
        assert retry_after == {503}
        redis_aof.start()
        assert settle(served, statuses[204]) == statuses[204]
        status, _ = served.request("POST", "/v1/reports", example("trustkit-ios.json"),
                                   {"Content-Type": "application/json"})
        assert status == 204
    finally:
        served.stop()


def test_clients_stalling_mid_body_are_cut_off_and_do_not_starve_others(
        tmp_path: Path, redis_aof: RedisServer) -> None:
    """H03: stalled uploads on every thread; each is answered 408 and its thread freed."""
    import http.client
    import socket

    served = serve_with(tmp_path, redis_aof.url)
    stalled = []
    try:
        for _ in range(16):  # every thread of 2 workers x 8 threads
            s = socket.create_connection(("127.0.0.1", served.port))
            s.sendall(b"POST /v1/reports HTTP/1.1\r\nHost: t\r\nContent-Type: application/json"
                      b"\r\nContent-Length: 100\r\n\r\n0123456789")
            stalled.append(s)
        started = time.monotonic()
        probe = http.client.HTTPConnection("127.0.0.1", served.port, timeout=30)
        probe.request("POST", "/v1/reports", example("trustkit-ios.json"),
                      {"Content-Type": "application/json"})
        assert probe.getresponse().status == 204
        # Connections are spread unevenly over the workers: at most two body timeouts (5 s).
        assert time.monotonic() - started < 12
        for s in stalled:
            s.settimeout(20)
            assert s.recv(64).startswith(b"HTTP/1.1 408")
        assert time.monotonic() - started < 12
    finally:
        for s in stalled:
            s.close()
        served.stop()


def metric(served: Served, name: str) -> float:
    status, body = served.request("GET", "/metrics")
    assert status == 200
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            if sample.name == name and not sample.labels:
                return float(sample.value)
    return 0.0


def test_corrupt_orphan_segment_is_replayed_and_counted_on_metrics(
        tmp_path: Path, redis_aof: RedisServer) -> None:
    """F14: a dead worker left a segment with a flipped byte in one record and a torn tail;
    a live worker replays the rest, and /metrics shows 1 quarantined and 1 torn."""
    spool_dir = tmp_path / "data" / "spool"
    dead = Spool(spool_dir, owner="dead-worker")
    records = [encode(Stamped(report(i), "dead-worker", i + 1)) for i in range(5)]
    for record in records:
        dead.append([record])
    dead.close()
    (segment,) = spool_dir.glob("dead-worker.*.seg")
    raw = bytearray(segment.read_bytes())
    second = len(frame(records[0]))
    raw[second + HEADER.size + 50] ^= 0xFF  # the second record's CRC no longer matches
    segment.write_bytes(bytes(raw[: len(raw) - len(frame(records[4])) // 2]))  # torn fifth
    served = serve_with(tmp_path, redis_aof.url)
    try:
        assert settle(served, 3) == 3  # the first, third and fourth
        assert metric(served, "pin_collector_spool_quarantined_total") == 1
        assert metric(served, "pin_collector_spool_torn_total") == 1
        assert list((spool_dir / "quarantine").iterdir())
        assert not list(spool_dir.glob("dead-worker.*.seg"))
    finally:
        served.stop()
