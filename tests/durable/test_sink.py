"""The live writer's largest batch against a real Redis: nothing in it outgrows a script."""

from __future__ import annotations

import dataclasses
from typing import Any

import redis

from collector.aggregates.connection import connect
from collector.aggregates.keys import Keys, shard_index
from collector.aggregates.read.context import ReadContext
from collector.aggregates.read.summary import summary_doc
from collector.aggregates.read.windows import Window
from collector.aggregates.writer import ReportStore, Stamped
from collector.durable.sink import BATCH
from tests.helpers import report


def test_a_full_batch_of_new_hosts_in_one_shard_and_new_devices_is_one_write(
        rdb: redis.Redis, redis_server: Any) -> None:
    """BATCH distinct hosts that all rank in the same global shard, each with its own device:
    the biggest argument lists a batch can give one script (Lua unpacks at most ~8000)."""
    hosts: list[str] = []
    i = 0
    while len(hosts) < BATCH:
        name = f"h{i}.example.com"
        if shard_index(name) == 0:
            hosts.append(name)
        i += 1
    base = report(0)
    reports = [dataclasses.replace(base, hostname=h, device=f"{n:032x}")
               for n, h in enumerate(hosts)]
    store = ReportStore(connect(redis_server.url, 30.0), Keys("pc"), retention_s=86400,
                        host_cap=200)
    assert store.write([Stamped(r, "w", n + 1) for n, r in enumerate(reports)]) == BATCH
    doc = summary_doc(ReadContext(rdb, Keys("pc"), 90), Window())
    assert (doc["reports"], doc["hosts"]) == (BATCH, BATCH)
    assert abs(doc["devices"] - BATCH) <= BATCH * 0.03  # a HyperLogLog's estimate
