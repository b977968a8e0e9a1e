"""Past one machine: three collectors, one Redis Cluster, one machine lost mid-run.

Three `pin-collector serve` processes (separate data dirs: three machines) share a local
3-primary Redis Cluster through ``redis+cluster://``. A load of reports for many hosts is
spread over them; a third of the way in, one machine dies (its whole process group is
SIGKILLed: no graceful shutdown, no flush). It then comes back on the same data dir, as a
rebooted machine would, and replays what its spool held. Every report answered 2xx must be
counted exactly once: at least once (nothing acknowledged is lost) and at most once plus
the reports the dead machine had made durable without getting its answer out.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.helpers import Served, example_doc
from tests.rediscluster import local_cluster

pytestmark = pytest.mark.e2e

TOKEN = "fleet-token-0123456789"
HOSTS = 60
PER_THREAD = 120
THREADS_PER_MACHINE = 2


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[list[int]]:
    with local_cluster(tmp_path / "cluster") as ports:
        yield ports


def machine(tmp_path: Path, name: str, cluster: list[int]) -> Served:
    env = {"REDIS_URL": f"redis+cluster://127.0.0.1:{cluster[0]}",
           "COLLECTOR_API_TOKENS": f"ops:{TOKEN}",
           "COLLECTOR_DEVICE_SECRET": "one-secret-for-the-fleet"}
    return Served(tmp_path / name / "data", env=env, workers=1)


class Load:
    """Threads posting reports to one machine each; tallies answers by kind."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ok = 0
        self.refused = 0  # no connection: the machine was down, nothing was sent
        self.lost = 0  # sent, no answer: may have been made durable before the kill
        self.other: list[int] = []

    def run(self, target: Served, thread: int, stop_when_down: threading.Event) -> None:
        doc = example_doc("trustkit-ios.json")
        for i in range(PER_THREAD):
            doc["hostname"] = f"h{(thread * PER_THREAD + i) % HOSTS}.example.com"
            doc["noted-hostname"] = doc["hostname"]
            doc["app-vendor-id"] = f"device-{thread}-{i}"
            body = json.dumps(doc).encode()
            try:
                conn = http.client.HTTPConnection("127.0.0.1", target.port, timeout=10)
                conn.connect()
            except OSError:
                with self.lock:
                    self.refused += 1
                if stop_when_down.is_set():
                    return
                continue
            try:
                conn.request("POST", "/v1/reports", body=body,
                             headers={"Content-Type": "application/json"})
                status = conn.getresponse().status
            except (OSError, http.client.HTTPException):
                with self.lock:
                    self.lost += 1
                continue
            finally:
                conn.close()
            with self.lock:
                if 200 <= status < 300:
                    self.ok += 1
                else:
                    self.other.append(status)


def counted(m: Served) -> int:
    status, body = m.request("GET", "/v1/summary",
                             headers={"Authorization": f"Bearer {TOKEN}"})
    assert status == 200, body
    reports: int = json.loads(body)["reports"]
    return reports


def test_three_machines_one_cluster_one_killed(cluster: list[int], tmp_path: Path) -> None:
    machines = [machine(tmp_path, name, cluster) for name in ("m1", "m2", "m3")]
    started = list(machines)
    load = Load()
    victim_down = threading.Event()
    threads = [threading.Thread(target=load.run,
                                args=(m, i * THREADS_PER_MACHINE + t,
                                      victim_down if i == 1 else threading.Event()))
               for i, m in enumerate(machines) for t in range(THREADS_PER_MACHINE)]
    try:
        for t in threads:
            t.start()
        total = len(threads) * PER_THREAD
        deadline = time.monotonic() + 60
        while load.ok < total // 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        victim = machines[1]
        os.killpg(victim.proc.pid, signal.SIGKILL)  # the machine is gone, mid-request
        victim.proc.wait()
        victim_down.set()
        for t in threads:
            t.join(120)
        assert not load.other, load.other
        assert load.ok >= total // 2

        # the survivors' reports are all in; the dead machine's spool waits for it
        before_reboot = counted(machines[0])
        machines[1] = machine(tmp_path, "m2", cluster)  # rebooted on the same disk
        started.append(machines[1])
        deadline = time.monotonic() + 30
        while counted(machines[0]) < load.ok and time.monotonic() < deadline:
            time.sleep(0.2)
        final = counted(machines[0])
        print(f"fleet: answered {load.ok}, unanswered {load.lost}, counted before the "
              f"reboot {before_reboot}, after {final}")
        assert load.ok <= final <= load.ok + load.lost, (load.ok, load.lost, final)
        assert counted(machines[2]) == counted(machines[1]) == final

        # the load reached every primary: hosts hash to slots all over the cluster
        for port in cluster:
            node = redis.Redis(port=port, socket_timeout=2)
            assert node.dbsize() > 0, port
            node.close()
        hosts = machines[2].request("GET", "/v1/hosts?limit=500",
                                    headers={"Authorization": f"Bearer {TOKEN}"})
        assert len(json.loads(hosts[1])["items"]) == HOSTS
    finally:
        for m in started:
            m.stop()
