"""The rules against a real Redis: each fires once per (rule, host, chain) per cooldown, across
writers and replays; the alert object; triage and switched-off rules fire nothing."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from typing import Any

import redis

from collector.aggregates.keys import Keys
from collector.aggregates.writer import ReportStore, Stamped
from collector.alerts.rules import Alerter
from collector.alerts.triage import set_pair
from collector.intake.report import Report
from tests.helpers import IOS_FP, report

HOST = "api.example.com"
MS = 1_800_000_000_000


def stamp(reports: list[Report], writer: str = "w", start: int = 1) -> list[Stamped]:
    return [Stamped(r, writer, start + i) for i, r in enumerate(reports)]


def public(n: int, *, enforce: bool | None = False, host: str = HOST) -> Report:
    return dataclasses.replace(report(n, host=host), classification="public-trust",
                               label="Example CA", enforce=enforce, received_ms=MS + n)


def other(n: int, host: str = HOST) -> Report:
    return dataclasses.replace(report(n, host=host), received_ms=MS + n)


def fired(rdb: redis.Redis, keys: Keys) -> list[dict[str, Any]]:
    """Alerts in the log, oldest first."""
    return [json.loads(f[b"alert"]) for _, f in rdb.xrange(keys.alerts.log)]


def outbox(rdb: redis.Redis, keys: Keys) -> list[dict[bytes, bytes]]:
    return [f for _, f in rdb.xrange(keys.alerts.outbox)]


def rules_of(alerts: list[dict[str, Any]]) -> list[tuple[str, str, str | None]]:
    return sorted((a["rule"], a["hostname"], a["fingerprint"]) for a in alerts)


def test_each_rule_fires_once_across_two_writers(
        rdb: redis.Redis, akeys: Keys, make_store: Callable[..., ReportStore],
        make_alerter: Callable[..., Alerter]) -> None:
    a, b = make_alerter(), make_alerter()
    one, two = make_store(a), make_store(b)
    # A public-trust pair, seen by both writers, report-only first, then enforcing clients.
    one.write(stamp([public(1), other(2, host="b.example.com")], writer="w1"))
    two.write(stamp([public(3), other(4, host="b.example.com")], writer="w2"))
    one.write(stamp([public(5, enforce=True)], writer="w1", start=10))
    two.write(stamp([public(6, enforce=True)], writer="w2", start=10))
    one.write(stamp([public(7, enforce=True), other(8, host="b.example.com")], writer="w1",
                    start=20))
    alerts = fired(rdb, akeys)
    assert rules_of(alerts) == [("enforced-failures", HOST, IOS_FP),
                                ("new-chain", "b.example.com", IOS_FP),
                                ("new-public-trust-chain", HOST, IOS_FP)]
    assert len(outbox(rdb, akeys)) == 3  # one destination
    assert a.stats.fired["new-public-trust-chain"] + b.stats.fired["new-public-trust-chain"] == 1
    assert sum(a.stats.fired.values()) + sum(b.stats.fired.values()) == 3
    assert not rdb.exists(akeys.host(HOST).events)  # handled events are cleared


def test_a_replay_fires_nothing_twice_and_a_lost_hand_over_fires_once(
        rdb: redis.Redis, akeys: Keys, make_store: Callable[..., ReportStore],
        make_alerter: Callable[..., Alerter]) -> None:
    alerter = make_alerter()
    lost: list[int] = []

    def crash(events: Any) -> None:  # the reply, or the process, is lost after the script
        lost.append(len(events))
        raise ConnectionError("reply lost")

    batch = stamp([public(1, enforce=True), other(2, host="b.example.com")])
    crashing = make_store()
    crashing.on_events = crash
    assert crashing.write(batch) == 2
    assert lost == [3]  # a new pair on both hosts, the first failing on one
    assert fired(rdb, akeys) == []
    assert rdb.llen(akeys.host(HOST).events) == 2  # still pending

    store = make_store(alerter)
    assert store.write(batch) == 0  # the replay counts nothing again ...
    assert rules_of(fired(rdb, akeys)) == [  # ... and hands the pending events over once
        ("enforced-failures", HOST, IOS_FP), ("new-chain", "b.example.com", IOS_FP),
        ("new-public-trust-chain", HOST, IOS_FP)]
    assert store.write(batch) == 0
    assert make_store(make_alerter()).write(batch) == 0
    assert len(fired(rdb, akeys)) == 3
    assert not rdb.exists(akeys.host(HOST).events, akeys.host("b.example.com").events)


def test_a_handled_event_is_enqueued_again_only_after_the_cooldown(
        rdb: redis.Redis, akeys: Keys, make_store: Callable[..., ReportStore],
        make_alerter: Callable[..., Alerter], wall: Any) -> None:
    alerter = make_alerter(cooldown_s=600)
    store = make_store(alerter)
    store.write(stamp([other(1)]))
    # A pending event handed over twice (two writers racing on it) fires once.
    rdb.rpush(akeys.host(HOST).events, f"new-pair\t{IOS_FP}\tunknown\t")
    store.write(stamp([other(2)], start=5))
    assert len(fired(rdb, akeys)) == 1
    # After the cooldown the same (rule, host, chain) may fire again, with a new id.
    rdb.delete(akeys.alerts.cooldown("new-chain", HOST, IOS_FP))  # as its EX would
    wall.now += 600
    rdb.rpush(akeys.host(HOST).events, f"new-pair\t{IOS_FP}\tunknown\t")
    store.write(stamp([other(3)], start=9))
    first, second = fired(rdb, akeys)
    assert first["id"] != second["id"]
    assert 0 < rdb.ttl(akeys.alerts.cooldown("new-chain", HOST, IOS_FP)) <= 600


def test_the_alert_object(rdb: redis.Redis, akeys: Keys, make_store: Callable[..., ReportStore],
                          make_alerter: Callable[..., Alerter], wall: Any) -> None:
    alerter = make_alerter(destinations=("webhook:0", "slack:0"), cooldown_s=3600)
    make_store(alerter).write(stamp([public(1), public(2), other(3, host="b.example.com")]))
    alerts = {a["rule"]: a for a in fired(rdb, akeys)}
    alert = alerts["new-public-trust-chain"]
    fired_s = int(wall.now)
    window = fired_s - fired_s % 3600
    expected_id = hashlib.sha256(
        f"new-public-trust-chain\t{HOST}\t{IOS_FP}\t{window}".encode()).hexdigest()[:32]
    assert alert == {
        "id": expected_id, "rule": "new-public-trust-chain", "hostname": HOST,
        "fingerprint": IOS_FP, "classification": "public-trust", "label": "Example CA",
        "reports": 2, "devices": 2, "first_seen": "2027-01-15T08:00:00Z",
        "fired_at": "2027-01-15T08:00:00Z", "url": f"https://pins.example/hosts/{HOST}"}
    assert list(alert) == ["id", "rule", "hostname", "fingerprint", "classification", "label",
                           "reports", "devices", "first_seen", "fired_at", "url"]
    assert alerts["new-chain"]["classification"] == "unknown"
    assert alerts["new-chain"]["label"] is None
    entries = [e for e in outbox(rdb, akeys) if e[b"id"].decode() == expected_id]
    assert sorted(e[b"dest"] for e in entries) == [b"slack:0", b"webhook:0"]
    raw = {e[b"alert"] for e in entries}
    assert len(raw) == 1 and json.loads(raw.pop()) == alert  # the very bytes POSTed


def test_ignored_pairs_and_issuers_fire_nothing(
        rdb: redis.Redis, akeys: Keys, make_store: Callable[..., ReportStore],
        make_alerter: Callable[..., Alerter]) -> None:
    set_pair(rdb, akeys, HOST, IOS_FP, "ignored", "our test rig", "alice")
    store = make_store(make_alerter())
    store.write(stamp([public(1, enforce=True), other(2, host="b.example.com")]))
    assert rules_of(fired(rdb, akeys)) == [("new-chain", "b.example.com", IOS_FP)]
    assert not rdb.exists(akeys.host(HOST).events)  # ignored is handled, not pending


def test_switched_off_rules_fire_nothing(
        rdb: redis.Redis, akeys: Keys, make_store: Callable[..., ReportStore],
        make_alerter: Callable[..., Alerter]) -> None:
    store = make_store(make_alerter(rules=("enforced-failures",)))
    store.write(stamp([public(1), other(2, host="b.example.com")]))
    assert fired(rdb, akeys) == []
    store.write(stamp([public(3, enforce=True)], start=10))
    assert rules_of(fired(rdb, akeys)) == [("enforced-failures", HOST, IOS_FP)]
    make_store(make_alerter(rules=())).write(stamp([other(4, host="c.example.com")], writer="x"))
    assert len(fired(rdb, akeys)) == 1


def test_without_an_alerter_no_event_is_kept(rdb: redis.Redis, akeys: Keys,
                                             make_store: Callable[..., ReportStore]) -> None:
    make_store().write(stamp([public(1, enforce=True)]))
    assert not rdb.exists(akeys.host(HOST).events, akeys.alerts.log, akeys.alerts.outbox)


def test_a_wrong_type_alert_key_is_an_error_before_any_write(
        rdb: redis.Redis, akeys: Keys, make_store: Callable[..., ReportStore],
        make_alerter: Callable[..., Alerter]) -> None:
    rdb.set(akeys.alerts.log, "not a stream")
    store = make_store(make_alerter())
    store.write(stamp([other(1)]))  # counted; the event stays pending
    assert int(rdb.hget(akeys.host(HOST).meta, "reports") or 0) == 1
    assert rdb.get(akeys.alerts.log) == b"not a stream"
    assert not rdb.exists(akeys.alerts.outbox)
    assert rdb.llen(akeys.host(HOST).events) == 1
    rdb.delete(akeys.alerts.log)
    store.write(stamp([other(2)], start=5))
    assert rules_of(fired(rdb, akeys)) == [("new-chain", HOST, IOS_FP)]
