"""Two `pin-collector serve` processes (two machines) on one Redis hold one combined limit.

Each process has two workers and its own data dir; the only thing they share is the Redis,
so a budget they respect together can only be held there. The limits are small and the
requests fast, so refill during the test adds at most one report per budget.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from collector.server.embedded import RedisServer
from tests.helpers import Served, example_doc, free_port

pytestmark = pytest.mark.e2e

PER_MINUTE = 5  # burst 10, then one report every 12 s
GLOBAL = 20  # burst 40


@pytest.fixture
def two_machines(tmp_path: Path) -> Iterator[list[Served]]:
    port = free_port()
    server = RedisServer(tmp_path / "redis", appendonly=False,
                         extra={"port": str(port), "bind": "127.0.0.1"}).start()
    env = {"REDIS_URL": f"redis://127.0.0.1:{port}/0",
           "COLLECTOR_RATE_LIMIT_PER_MINUTE": str(PER_MINUTE),
           "COLLECTOR_RATE_LIMIT_GLOBAL_PER_MINUTE": str(GLOBAL),
           "COLLECTOR_RATE_LIMIT_CHAINS_PER_HOUR": "1",
           "COLLECTOR_DEVICE_SECRET": "fleet-secret",  # shared, as README "Operating it" says
           "COLLECTOR_TRUSTED_PROXIES": "127.0.0.1/32",
           "COLLECTOR_API_TOKENS": "ops:fleet-token"}
    machines: list[Served] = []
    try:
        for name in ("a", "b"):
            machines.append(Served(tmp_path / name / "data", env=env, workers=2))
        yield machines
    finally:
        for m in machines:
            m.stop()
        server.stop()


def post(machine: Served, client: str, name: str = "trustkit-ios.json") -> int:
    body = json.dumps(example_doc(name)).encode()
    return machine.request("POST", "/v1/reports", body,
                           {"Content-Type": "application/json", "X-Forwarded-For": client})[0]


def test_a_source_and_the_fleet_each_get_one_budget(two_machines: list[Served]) -> None:
    a, b = two_machines
    started = time.monotonic()

    def refilled(per_minute: int) -> int:
        """Reports a bucket regained since the start (the test is not instantaneous)."""
        return int((time.monotonic() - started) * per_minute / 60) + 1

    # one source (a /24) spread over both machines: 10 of 30 pass, not 10 per machine
    codes = [post((a, b)[i % 2], f"198.51.100.{i}") for i in range(30)]
    first = codes.count(204)
    assert 2 * PER_MINUTE <= first <= 2 * PER_MINUTE + refilled(PER_MINUTE), codes
    assert set(codes) == {204, 429}
    # many sources: the global burst (40) is shared too, and the first source took its part
    many = [post((a, b)[i % 2], f"203.0.{i}.1") for i in range(60)]
    left = 2 * GLOBAL - first
    assert left <= many.count(204) <= left + refilled(GLOBAL), many
    # a read settles only its own machine's spool: the other machine's writer may still hold
    # its last batch for up to 200 ms, so read on both and then once more on the first
    b.summary()
    total = a.summary()["reports"]
    assert total == codes.count(204) + many.count(204) == b.summary()["reports"]


def test_the_chain_cap_is_shared_too(two_machines: list[Served]) -> None:
    a, b = two_machines
    assert post(a, "192.0.2.1", "trustkit-ios.json") == 204
    assert post(b, "192.0.2.2", "chromium-hpkp.json") == 429  # a second chain, same /24
    assert post(b, "192.0.2.3", "trustkit-ios.json") == 204  # the first chain again
    assert post(a, "198.18.0.1", "chromium-hpkp.json") == 204  # another source
