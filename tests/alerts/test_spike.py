"""The spike rule: the last 15 minutes against the trailing 24 h rate, evaluated by one
worker at a time under the lease, from the writer loop's timed jobs (injectable clocks)."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from collector.aggregates.keys import Keys
from collector.aggregates.writer import ReportStore, Stamped
from collector.alerts.rules import Alerter
from collector.alerts.spike import SpikeRule
from collector.durable.ingest import Ingestor
from collector.durable.spool import Spool
from tests.helpers import report

HOST = "api.example.com"


def burst(store: ReportStore, n: int, at_s: float, *, host: str = HOST, start: int = 1,
          spread_s: float = 60.0) -> None:
    """``n`` reports of ``host`` received over ``spread_s`` seconds ending at ``at_s``."""
    base = report(1, host=host)
    items = [Stamped(dataclasses.replace(
        base, device=f"d{i % 7}",
        received_ms=int((at_s - spread_s * (n - 1 - i) / max(n, 1)) * 1000)),
        "w", start + i) for i in range(n)]
    store.write(items)


def spikes(rdb: redis.Redis, keys: Keys) -> list[dict[str, Any]]:
    return [a for _, f in rdb.xrange(keys.alerts.log)
            if (a := json.loads(f[b"alert"]))["rule"] == "spike"]


def rule(alerter: Alerter, akeys: Keys, wall: Any, owner: str, **kw: Any) -> SpikeRule:
    return SpikeRule(alerter.client, akeys, alerter, spike_min=50, owner=owner, wall=wall, **kw)


def test_a_spike_fires_once_under_the_lease(
        rdb: redis.Redis, akeys: Keys, make_store: Callable[..., ReportStore],
        make_alerter: Callable[..., Alerter], wall: Any) -> None:
    wall.now = time.time()  # m5 keys expire in real Redis time
    burst(make_store(), 80, wall.now)
    burst(make_store(), 10, wall.now, host="quiet.example.com", start=500)
    one, two = make_alerter(), make_alerter()
    first = rule(one, akeys, wall, "w1", every_s=0.3)
    second = rule(two, akeys, wall, "w2", every_s=0.3)
    assert first.run() + second.run() == 1  # the other worker finds the lease taken
    assert rdb.exists(akeys.alerts.spike_lease)
    [alert] = spikes(rdb, akeys)
    assert alert["hostname"] == HOST and alert["fingerprint"] is None
    assert alert["classification"] is None and alert["label"] is None
    assert (alert["reports"], alert["devices"]) == (80, 7)
    assert alert["first_seen"] is not None and alert["url"].endswith(f"/hosts/{HOST}")
    assert one.stats.fired["spike"] + two.stats.fired["spike"] == 1
    time.sleep(0.35)  # the lease lapses; the cooldown still holds
    assert first.run() + second.run() == 0
    assert len(spikes(rdb, akeys)) == 1


def test_the_trailing_rate_raises_the_bar(
        rdb: redis.Redis, akeys: Keys, make_store: Callable[..., ReportStore],
        make_alerter: Callable[..., Alerter], wall: Any) -> None:
    now = time.time()
    wall.now = now
    store = make_store()
    # 2400 reports over the day before: 25 per 15 minutes, so the bar is 5 x 25 = 125.
    burst(store, 2400, now - 3 * 3600, spread_s=20 * 3600)
    burst(store, 100, now, start=10_000)
    spike = rule(make_alerter(), akeys, wall, "w1")
    assert spike.run() == 0
    rdb.delete(akeys.alerts.spike_lease)
    burst(store, 60, now, start=20_000)  # 160 in the window
    assert spike.run() == 1


def test_old_reports_are_no_spike_and_test_reports_do_not_count(
        rdb: redis.Redis, akeys: Keys, make_store: Callable[..., ReportStore],
        make_alerter: Callable[..., Alerter], wall: Any) -> None:
    now = time.time()
    wall.now = now
    store = make_store()
    burst(store, 200, now - 1800)  # half an hour ago: outside the 15 minutes
    base = report(1, host="tests.example.com")
    store.write([Stamped(dataclasses.replace(base, flags=("test-report",),
                                             received_ms=int(now * 1000)), "w", 1000 + i)
                 for i in range(100)])
    assert rule(make_alerter(), akeys, wall, "w1").run() == 0


def test_switched_off_spike_takes_no_lease(
        rdb: redis.Redis, akeys: Keys, make_store: Callable[..., ReportStore],
        make_alerter: Callable[..., Alerter], wall: Any) -> None:
    wall.now = time.time()
    burst(make_store(), 80, wall.now)
    assert rule(make_alerter(rules=("new-chain",)), akeys, wall, "w1").run() == 0
    assert not rdb.exists(akeys.alerts.spike_lease)
    assert spikes(rdb, akeys) == []


def test_the_writer_loop_runs_the_spike_job_when_due(
        rdb: redis.Redis, akeys: Keys, make_store: Callable[..., ReportStore],
        make_alerter: Callable[..., Alerter], wall: Any, tmp_path: Path) -> None:
    wall.now = time.time()
    store = make_store()
    burst(store, 80, wall.now)
    ticks = [1000.0]
    ingestor = Ingestor(store, Spool(tmp_path / "spool", owner="w"), "w",
                        clock=lambda: ticks[0])
    try:
        spike = rule(make_alerter(), akeys, wall, "w")
        runs: list[int] = []
        ingestor.add_job("spike", 60.0, lambda: runs.append(spike.run()))
        ingestor.run_once()
        assert runs == []  # not due yet
        ticks[0] += 61
        ingestor.run_once()
        assert runs == [1]
        ingestor.run_once()
        assert runs == [1]
        ingestor.add_job("broken", 1.0, lambda: 1 / 0)  # a failing job never stops the writer
        ticks[0] += 61
        ingestor.run_once()
        assert runs == [1, 0] and not ingestor.failed
    finally:
        ingestor.close()
    assert len(spikes(rdb, akeys)) == 1
