"""The write side against a real Redis: batches, caps, TTLs, idempotency, risk by version."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import redis

from collector.aggregates.connection import connect
from collector.aggregates.keys import Keys
from collector.aggregates.read.context import ReadContext
from collector.aggregates.read.hosts import host_doc
from collector.aggregates.read.summary import summary_doc
from collector.aggregates.read.windows import Window
from collector.aggregates.writer import ReportStore, Stamped
from collector.intake.report import Report
from tests.helpers import report

PREFIX = "pc"


def store(rdb: redis.Redis, url: str, cap: int = 200) -> ReportStore:
    return ReportStore(connect(url, 1.0), Keys(PREFIX), retention_s=86400, host_cap=cap)


def stamp(reports: list[Report], writer: str = "w", start: int = 1) -> list[Stamped]:
    return [Stamped(r, writer, start + i) for i, r in enumerate(reports)]


def test_batch_equals_single_writes_and_replay_is_a_no_op(rdb: redis.Redis,
                                                         redis_server: Any) -> None:
    st = store(rdb, redis_server.url)
    reports = [report(i % 3, host=f"h{i % 2}.example.com") for i in range(10)]
    assert st.write(stamp(reports)) == 10
    assert st.write(stamp(reports)) == 0  # same writer and sequences: already applied
    assert st.write(stamp(reports[:4], writer="other")) == 4
    q = ReadContext(rdb, Keys(PREFIX), 90)
    doc = summary_doc(q, Window())
    assert (doc["reports"], doc["hosts"], doc["chains"], doc["devices"]) == (14, 2, 1, 3)
    host = host_doc(q, "h0.example.com", Window())
    assert host is not None and host["reports"] == 7


def test_every_key_but_the_total_expires(rdb: redis.Redis, redis_server: Any) -> None:
    st = store(rdb, redis_server.url)
    st.write(stamp([report(1), report(2, host="x.example.com")]))
    keys = [k.decode() for k in rdb.scan_iter(f"{PREFIX}:*")]
    assert keys
    for key in keys:
        ttl = rdb.ttl(key)
        assert (ttl == -1) if key.endswith(":totals") else (ttl > 0), key


def test_per_host_collections_are_capped(rdb: redis.Redis, redis_server: Any) -> None:
    st = store(rdb, redis_server.url, cap=2)
    base = report(1)
    reports = [dataclasses.replace(base, app_version=f"1.{i}") for i in range(5)]
    st.write(stamp(reports))
    apps = rdb.zrange(Keys(PREFIX).host(base.hostname).apps, 0, -1, withscores=True)
    assert len(apps) == 3 and dict(apps)[b"other"] == 3


def test_hard_fail_risk_counts_devices_per_app_version(rdb: redis.Redis,
                                                       redis_server: Any) -> None:
    st = store(rdb, redis_server.url)
    risky = [dataclasses.replace(report(n), classification="public-trust", enforce=False,
                                 app_version=v)
             for n, v in ((1, "1.0"), (2, "1.0"), (2, "1.0"), (3, "2.0"))]
    enforced = dataclasses.replace(report(9), classification="public-trust", enforce=True)
    st.write(stamp([*risky, enforced]))
    host = host_doc(ReadContext(rdb, Keys(PREFIX), 90), "api.example.com", Window())
    assert host is not None
    risk = host["hard_fail_readiness"]
    assert risk["devices_at_risk"] == 3
    assert sorted((v["app_version"], v["reports"], v["devices"])
                  for v in risk["by_app_version"]) == [("1.0", 3, 2), ("2.0", 1, 1)]


def test_window_reads_sum_daily_buckets(rdb: redis.Redis, redis_server: Any) -> None:
    st = store(rdb, redis_server.url)
    now_ms = int(time.time() * 1000)
    old = dataclasses.replace(report(1), received_ms=now_ms - 3 * 86_400_000)
    st.write(stamp([old, report(2), report(3)]))
    q = ReadContext(rdb, Keys(PREFIX), 90)
    from datetime import UTC, datetime, timedelta

    recent = Window(since=datetime.now(UTC) - timedelta(days=1))
    assert summary_doc(q, recent)["reports"] == 2
    assert summary_doc(q, Window())["reports"] == 3
