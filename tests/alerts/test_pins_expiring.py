"""The pins-expiring rule: a pin set still seen in the field expires within
COLLECTOR_ALERT_PIN_EXPIRY_DAYS. Evaluated under its lease from real aggregates, fired through
the outbox, delivered to a real HTTP receiver like every other rule."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis

from collector import create_app
from collector.aggregates.keys import Keys
from collector.aggregates.writer import ReportStore
from collector.alerts.deliver import Deliverer
from collector.alerts.destinations import destinations, slack_text
from collector.alerts.expiring import PinsExpiringRule, pin_set_digest
from collector.alerts.outbox import alert_id
from collector.alerts.rules import RULES, Alerter
from collector.config import ConfigError, Settings
from collector.server.embedded import RedisServer
from tests.helpers import Receiver
from tests.rotation import HOST, Rotation, field_reports, write

RULE = "pins-expiring"


@pytest.fixture(scope="module")
def rot() -> Rotation:
    return Rotation()


@pytest.fixture
def hook(redis_server: RedisServer, akeys: Keys) -> Iterator[Receiver]:
    """A webhook receiver, and a deliverer sending the outbox to it."""
    receiver = Receiver()
    client = redis.Redis.from_url(redis_server.url, socket_timeout=5)
    deliverer = Deliverer(client, akeys.alerts.outbox, destinations([receiver.url], []),
                          "worker-1", block_ms=100, scan_s=0.05, backoff_scale=0.05)
    deliverer.start()
    yield receiver
    deliverer.close(timeout=5)
    receiver.stop()


def soon(days: int) -> str:
    return (datetime.now(UTC).date() + timedelta(days=days)).isoformat()


def rule(alerter: Alerter, akeys: Keys, wall: Any, days: int = 30, owner: str = "w1") \
        -> PinsExpiringRule:
    return PinsExpiringRule(alerter.client, akeys, alerter, days=days, retention_days=90,
                            owner=owner, wall=wall, every_s=0.2)


def fired(rdb: redis.Redis, akeys: Keys) -> list[dict[str, Any]]:
    return [a for _, f in rdb.xrange(akeys.alerts.log)
            if (a := json.loads(f[b"alert"]))["rule"] == RULE]


def wait_for(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_an_expiring_pin_set_fires_once_per_cooldown_to_the_webhook(
        rdb: redis.Redis, akeys: Keys, make_store: Callable[..., ReportStore],
        make_alerter: Callable[..., Alerter], wall: Any, rot: Rotation,
        hook: Receiver) -> None:
    wall.now = time.time()
    store = make_store()
    reports = field_reports(rot)
    expiring = [r for r in reports if r.app_version in ("1.0", "2.0")]
    later = [r for r in reports if r.app_version == "3.0"]
    write(store, [dataclasses.replace(r, pins_expiration=soon(10)) for r in expiring])
    write(store, later, start=1000)  # 2027-06-01: far off
    alerter = make_alerter(cooldown_s=3600)
    first, second = rule(alerter, akeys, wall), rule(make_alerter(), akeys, wall, owner="w2")
    assert first.run() + second.run() == 2  # the two pin sets of 1.0 and 2.0, once each
    wait_for(lambda: len(hook.bodies()) == 2)
    alerts = sorted((json.loads(b) for b in hook.bodies()),
                    key=lambda a: a["pin_set"]["app_versions"][0]["app_version"])
    v1, v2 = alerts
    assert v1["rule"] == RULE and v1["hostname"] == HOST
    assert (v1["fingerprint"], v1["classification"]) == (None, None)
    assert v1["pin_set"] == {
        "pins": sorted(rot.builds()[0][2]), "expiration": soon(10), "days_to_expiry": 10,
        "app_versions": [{"app_id": "com.example.app", "app_version": "1.0",
                          "platform": "IOS"}]}
    assert (v1["reports"], v1["devices"]) == (7, 5) and (v2["reports"], v2["devices"]) == (11, 8)
    assert v1["label"] == f"pin set expires {soon(10)} (in 10 days)"
    assert v1["url"] == f"https://pins.example/hosts/{HOST}" and v1["first_seen"]
    digest = pin_set_digest(tuple(v1["pin_set"]["pins"]), soon(10))
    assert v1["id"] == alert_id(RULE, HOST, digest, int(wall.now), 3600)  # stable
    assert "expires" in slack_text(v1)
    assert alerter.stats.fired[RULE] == 2 and RULE in RULES
    time.sleep(0.25)  # the lease lapses; the cooldown still holds
    assert first.run() == 0 and len(fired(rdb, akeys)) == 2
    wall.now += 3600  # the next cooldown period: once more, with a new id
    rdb.delete(*rdb.keys(f"{akeys.prefix}:{{a}}:cooldown:*"))  # Redis's own clock: expire now
    time.sleep(0.25)
    assert first.run() == 2
    assert {a["id"] for a in fired(rdb, akeys)[2:]}.isdisjoint({v1["id"], v2["id"]})


def test_far_past_and_unpinned_sets_do_not_fire_nor_a_rule_switched_off(
        rdb: redis.Redis, akeys: Keys, make_store: Callable[..., ReportStore],
        make_alerter: Callable[..., Alerter], wall: Any, rot: Rotation) -> None:
    wall.now = time.time()
    store = make_store()
    reports = field_reports(rot)
    write(store, [dataclasses.replace(r, pins_expiration=soon(-1)) for r in reports[:5]])
    write(store, [dataclasses.replace(r, pins_expiration=soon(45), app_version="7.0")
                  for r in reports[:5]], start=100)
    write(store, [dataclasses.replace(r, known_pins=(), pins_expiration=soon(3),
                                      app_version="8.0") for r in reports[:5]], start=200)
    write(store, [dataclasses.replace(r, pins_expiration=soon(20), app_version="9.0")
                  for r in reports[:5]], start=300)
    assert rule(make_alerter(rules=[r for r in RULES if r != RULE]), akeys, wall).run() == 0
    assert rule(make_alerter(), akeys, wall, days=15, owner="w2").run() == 0
    rdb.delete(akeys.alerts.pins_expiring_lease)
    assert rule(make_alerter(), akeys, wall, days=30).run() == 1  # 9.0 only
    [alert] = fired(rdb, akeys)
    assert alert["pin_set"]["app_versions"][0]["app_version"] == "9.0"


def test_the_setting_and_the_wiring(settings: Settings, rdb: redis.Redis) -> None:
    assert Settings().alert_pin_expiry_days == 30 and RULE in Settings().alert_rules
    env = {"COLLECTOR_ALERT_PIN_EXPIRY_DAYS": "14", "COLLECTOR_ALERT_RULES": RULE}
    found = Settings.from_env(env)
    assert (found.alert_pin_expiry_days, found.alert_rules) == (14, (RULE,))
    for bad in ("0", "-3", "x", "3651"):
        with pytest.raises(ConfigError, match="COLLECTOR_ALERT_PIN_EXPIRY_DAYS"):
            Settings.from_env({"COLLECTOR_ALERT_PIN_EXPIRY_DAYS": bad})
    app = create_app(settings)
    try:
        assert "pins-expiring" in app.extensions["collector"].ingestor._jobs
    finally:
        app.extensions["collector"].ingestor.close()
