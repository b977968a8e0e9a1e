"""The field pin inventory against a real Redis: what host.lua writes per (build, pin set),
read back all-time and over windows, capped, replay-safe, bounded in memory."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis

from collector.aggregates.connection import connect
from collector.aggregates.keys import Keys
from collector.aggregates.merge import app_key, inventory_key, pinset_key, register
from collector.aggregates.read import sketch
from collector.aggregates.read.context import ReadContext
from collector.aggregates.read.inventory import inventory_doc, read_inventory
from collector.aggregates.read.windows import Window
from collector.aggregates.writer import PoisonRecord, ReportStore
from collector.intake.chains import spki_pin
from collector.intake.report import TEST_REPORT
from tests.rotation import HOST, OFFLINE_BACKUP, Rotation, at, field_reports, write

DAY_MS = 86_400_000


@pytest.fixture(scope="module")
def rot() -> Rotation:
    return Rotation()


def store(url: str, cap: int = 200, retention_days: int = 90) -> ReportStore:
    return ReportStore(connect(url, 2.0), Keys("pc"), retention_s=retention_days * 86400,
                       host_cap=cap)


def ctx(rdb: redis.Redis) -> ReadContext:
    return ReadContext(rdb, Keys("pc"), 90)


def builds(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(v["app_version"], v["platform"]): v for v in doc["versions"]}


def test_each_build_with_its_pin_sets_devices_and_dates(
        rdb: redis.Redis, redis_server: Any, rot: Rotation) -> None:
    reports = field_reports(rot)
    write(store(redis_server.url), reports)
    doc = inventory_doc(ctx(rdb), HOST, Window())
    assert doc is not None and doc["hostname"] == HOST
    found = builds(doc)
    assert set(found) == {("1.0", "IOS"), ("2.0", "IOS"), ("3.0", "IOS"), ("3.0", "ANDROID")}
    for version, platform, pins, devices in rot.builds():
        v = found[version, platform]
        assert v["app_id"] == "com.example.app"
        assert v["devices"] == devices  # a few devices: the sketch counts them exactly
        assert v["reports"] == sum(1 for r in reports
                                   if (r.app_version, r.platform) == (version, platform))
        [pin_set] = v["pin_sets"]
        assert pin_set["pins"] == sorted(pins)
        assert pin_set["expiration"] == "2027-06-01" and pin_set["expired"] is False
        assert pin_set["has_backup_pin"] is (len(pins) > 1)
        assert pin_set["trustkit"] == {"kTSKPublicKeyHashes": sorted(pins),
                                       "kTSKExpirationDate": "2027-06-01"}
        assert pin_set["android_nsc"].count('<pin digest="SHA-256">') == len(pins)
        assert v["first_seen"] == v["last_seen"] == pin_set["last_seen"] is not None
    assert [v["devices"] for v in doc["versions"]] == [12, 8, 5, 4]  # most devices first
    assert doc["devices"] == 29 and doc["more"] == {"reports": 0, "pin_sets_all_time": 0}


def test_device_counts_are_right_within_the_sketch_error(
        rdb: redis.Redis, redis_server: Any, rot: Rotation) -> None:
    """300 to 1200 devices per build: within 3 standard errors (1.6 % each) of the truth,
    and the stored registers are exactly those of the reference implementation."""
    reports = field_reports(rot, devices_scale=100)
    write(store(redis_server.url), reports)
    inv = read_inventory(ctx(rdb), HOST, Window())
    assert inv is not None
    for e in inv.entries:
        truth = {r.device for r in reports if (r.app_version, r.platform) == e.build[1:]}
        assert abs(sketch.estimate(e.sketch) - len(truth)) <= 0.05 * len(truth), e.build
        assert e.sketch == sketch.registers(truth)
    everyone = {r.device for r in reports}
    assert abs(sketch.count(e.sketch for e in inv.entries) - len(everyone)) \
        <= 0.05 * len(everyone)


def test_the_sketch_estimator_over_many_sizes() -> None:
    for n in (0, 1, 7, 40, 200, 3000, 30000):
        devices = [hmac.new(b"k", str(i).encode(), hashlib.sha256).hexdigest()[:32]
                   for i in range(n)]
        estimate = sketch.estimate(sketch.registers(devices))
        assert abs(estimate - n) <= max(1, 0.05 * n), (n, estimate)
    halves = [sketch.registers(str(i) for i in range(k, 2000, 2)) for k in (0, 1)]
    assert sketch.merge(halves) == sketch.registers(str(i) for i in range(2000))
    assert sketch.merge([]) == bytes(sketch.M) and sketch.estimate(None) == 0


def test_the_window_excludes_old_builds_and_counts_its_own_days(
        rdb: redis.Redis, redis_server: Any, rot: Rotation) -> None:
    now = int(time.time() * 1000)
    current = field_reports(rot)
    old = [dataclasses.replace(r, app_version="0.9") for r in field_reports(rot)[:6]]
    st = store(redis_server.url)
    write(st, at(old, now - 40 * DAY_MS))
    write(st, at(current[:10], now - 20 * DAY_MS), start=1000)
    write(st, current, start=2000)
    q = ctx(rdb)
    all_time = builds(inventory_doc(q, HOST, Window()) or {})
    assert ("0.9", "IOS") in all_time  # within the retention: still in the field
    since = datetime.now(UTC) - timedelta(days=30)
    recent = builds(inventory_doc(q, HOST, Window(since=since)) or {})
    assert ("0.9", "IOS") not in recent and len(recent) == 4
    v1 = recent["1.0", "IOS"]
    assert v1["reports"] == all_time["1.0", "IOS"]["reports"]  # 20 days ago and today
    assert v1["first_seen"] < v1["last_seen"]
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    only_today = builds(inventory_doc(q, HOST, Window(since=today)) or {})
    earlier = sum(1 for r in current[:10] if r.app_version == "1.0")
    assert only_today["1.0", "IOS"]["reports"] == v1["reports"] - earlier
    assert only_today["1.0", "IOS"]["devices"] == 5
    until = datetime.now(UTC) - timedelta(days=30)
    assert set(builds(inventory_doc(q, HOST, Window(until=until)) or {})) == {("0.9", "IOS")}
    assert inventory_doc(q, "never.example.com", Window()) is None


def test_replays_count_nothing_twice_and_test_reports_nothing(
        rdb: redis.Redis, redis_server: Any, rot: Rotation) -> None:
    reports = field_reports(rot)
    st = store(redis_server.url)
    write(st, reports)
    write(st, reports)  # same writer and sequences
    write(st, [dataclasses.replace(r, flags=(TEST_REPORT,), app_version="9.9")
               for r in reports[:3]], start=5000)
    doc = inventory_doc(ctx(rdb), HOST, Window()) or {}
    assert sum(v["reports"] for v in doc["versions"]) == len(reports)
    assert ("9.9", "IOS") not in builds(doc)


def test_capped_per_host_stale_members_make_room(
        rdb: redis.Redis, redis_server: Any, rot: Rotation) -> None:
    now = int(time.time() * 1000)
    base = field_reports(rot)[0]
    st = store(redis_server.url, cap=3, retention_days=30)
    write(st, at([dataclasses.replace(base, app_version="0.1")], now - 40 * DAY_MS))
    write(st, [dataclasses.replace(base, app_version=f"1.{i}") for i in range(4)], start=10)
    doc = inventory_doc(ctx(rdb), HOST, Window()) or {}
    versions = sorted(v["app_version"] for v in doc["versions"])
    assert len(versions) == 3 and "0.1" not in versions  # the stale one made room
    assert doc["more"] == {"reports": 2, "pin_sets_all_time": 2}  # 0.1 and one of 1.x
    hk = Keys("pc").host(HOST)
    assert rdb.zcard(hk.inventory) == 3
    stale = json.dumps(["com.example.app", "0.1", "IOS", list(base.known_pins), "2027-06-01"],
                       separators=(",", ":"))
    assert not rdb.exists(hk.inventory_devices(stale))


def test_a_derived_key_of_the_wrong_type_refuses_the_batch(
        rdb: redis.Redis, redis_server: Any, rot: Rotation) -> None:
    hk = Keys("pc").host(HOST)
    rdb.set(hk.inventory_seen, "not a hash")
    with pytest.raises(PoisonRecord):
        write(store(redis_server.url), field_reports(rot)[:2])
    assert not rdb.exists(hk.meta, hk.inventory)


def test_sketches_have_a_fixed_size_and_every_key_expires(
        rdb: redis.Redis, redis_server: Any, rot: Rotation) -> None:
    st = store(redis_server.url)
    write(st, field_reports(rot))
    hk = Keys("pc").host(HOST)
    members: Any = rdb.zrange(hk.inventory, 0, -1)
    [member] = [m.decode() for m in members if b'"2.0"' in m]
    key = hk.inventory_devices(member)
    small = rdb.memory_usage(key)
    assert small is not None
    write(st, field_reports(rot, devices_scale=50), start=10_000)
    assert rdb.memory_usage(key) == small <= 4200  # 8 devices or 400: the same 4 KiB
    for k in rdb.scan_iter(f"{hk.inventory}*"):
        assert rdb.ttl(k) > 0, k
    assert spki_pin(rot.int_a) in member and OFFLINE_BACKUP not in member


def test_reports_older_than_the_retention_leave_no_key_without_a_ttl(
        rdb: redis.Redis, redis_server: Any, rot: Rotation) -> None:
    """A replayed record of a day already past its expiry: every key it makes expires (the
    day's keys at once), even when several builds of that day share one script call."""
    old = at(field_reports(rot), int(time.time() * 1000) - 100 * DAY_MS)
    write(store(redis_server.url), old)
    hk = Keys("pc").host(HOST)
    found = list(rdb.scan_iter(f"{hk.inventory}*"))
    assert found and all(rdb.ttl(k) > 0 for k in found)
    assert not any(b":inv:day:" in k or k.count(b":") > 5 for k in found)  # no day key left


def test_a_sketch_holds_exactly_its_devices_registers(
        rdb: redis.Redis, redis_server: Any, rot: Rotation) -> None:
    """Byte for byte: a new sketch (made by Redis, then its registers set) and one updated
    with many registers at once (written back whole) are the maximum register per device."""
    reports = field_reports(rot, devices_scale=30)
    st = store(redis_server.url)
    hk = Keys("pc").host(HOST)
    half = len(reports) // 2
    write(st, reports[:half])
    for written in (reports[:half], reports):
        if written is reports:
            write(st, reports[half:], start=1 + half)
        want: dict[str, bytearray] = {}
        for r in written:
            regs = want.setdefault(inventory_key(app_key(r), pinset_key(r)), bytearray(sketch.M))
            idx, rank = register(r.device)
            regs[idx] = max(regs[idx], rank)
        for member, regs in want.items():
            assert rdb.get(hk.inventory_devices(member)) == bytes(regs)
