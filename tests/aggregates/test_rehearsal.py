"""Rotation rehearsal against a real Redis: the scenario of ``tests.rotation`` (builds with
and without a backup pin) judged against the chain served today, a new key from the same CA
and a new key from another CA."""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from cryptography.hazmat.primitives import serialization

from collector.aggregates.connection import connect
from collector.aggregates.keys import Keys
from collector.aggregates.read.context import ReadContext
from collector.aggregates.read.rehearsal import rehearsal_doc
from collector.aggregates.read.windows import Window
from collector.aggregates.writer import ReportStore
from collector.intake import formats
from collector.intake.bundle import parse_bundle
from collector.intake.chains import spki_pin
from collector.intel.classify import Classifier
from tests.helpers import example_doc
from tests.intel.pki import pem
from tests.rotation import HOST, Rotation, field_reports, trustkit_doc, write

DAY_MS = 86_400_000


@pytest.fixture(scope="module")
def rot() -> Rotation:
    return Rotation()


@pytest.fixture
def q(rdb: redis.Redis, redis_server: Any, rot: Rotation) -> ReadContext:
    """The scenario written, read with a classifier trusting CA A's root (not CA B's)."""
    st = ReportStore(connect(redis_server.url, 2.0), Keys("pc"), retention_s=90 * 86400,
                     host_cap=200)
    write(st, field_reports(rot))
    return ReadContext(rdb, Keys("pc"), 90,
                       Classifier(rot.root_a.public_bytes(serialization.Encoding.PEM)))


def rehearse(q: ReadContext, chain: bytes, window: Window | None = None) -> dict[str, Any]:
    doc = rehearsal_doc(q, HOST, window or Window(), parse_bundle(chain))
    assert doc is not None
    return doc


def verdicts(doc: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {(v["app_version"], v["platform"]): v["verdict"] for v in doc["versions"]}


def test_the_chain_served_today_passes_every_build(q: ReadContext, rot: Rotation) -> None:
    doc = rehearse(q, rot.current)
    assert set(verdicts(doc).values()) == {"pass"}
    assert doc["would_fail"] is False and doc["devices_that_would_fail"] == 0
    assert doc["summary"]["versions"] == doc["summary"]["passing"] == 4
    assert doc["summary"]["devices"] == 29
    by = {(v["app_version"], v["platform"]): v for v in doc["versions"]}
    assert by["1.0", "IOS"]["matching_keys"] == [{"pin": spki_pin(rot.leaf_a1),
                                                  "position": "leaf"}]
    assert by["2.0", "IOS"]["matching_pins"] == [spki_pin(rot.int_a), spki_pin(rot.root_a)]
    assert [k["position"] for k in by["2.0", "IOS"]["matching_keys"]] == ["intermediate",
                                                                          "root"]
    assert doc["chain"]["classification"] == "public-trust" and not doc["chain"]["warnings"]


def test_a_new_key_under_the_same_ca_passes_the_builds_pinning_the_intermediate(
        q: ReadContext, rot: Rotation) -> None:
    doc = rehearse(q, rot.same_ca)
    assert verdicts(doc) == {("1.0", "IOS"): "fail", ("2.0", "IOS"): "pass",
                             ("3.0", "IOS"): "pass", ("3.0", "ANDROID"): "pass"}
    assert doc["versions"][0]["app_version"] == "1.0"  # failing builds first
    assert doc["would_fail"] is True and doc["devices_that_would_fail"] == 5
    assert doc["versions"][0]["devices_that_would_fail"] == 5
    to_add = doc["pins_to_add"]
    assert [(p["pin"], p["position"], p["recommended"], p["in_chain"]) for p in to_add] == [
        (spki_pin(rot.leaf_a2), "leaf", True, True),
        (spki_pin(rot.int_a), "intermediate", True, True),
        (spki_pin(rot.root_a), "root", False, False)]  # the root, from the trust store
    assert [p["shipped_by_versions"] for p in to_add] == [0, 3, 1]


def test_a_new_key_from_another_ca_fails_exactly_the_builds_without_a_backup(
        q: ReadContext, rot: Rotation) -> None:
    doc = rehearse(q, rot.other_ca)
    assert verdicts(doc) == {("1.0", "IOS"): "fail", ("2.0", "IOS"): "fail",
                             ("3.0", "IOS"): "pass", ("3.0", "ANDROID"): "fail"}
    assert doc["devices_that_would_fail"] == 5 + 8 + 4
    assert doc["summary"] | {"devices": 0} == {
        "versions": 4, "passing": 1, "failing": 3, "not_enforced": 0, "unpinned": 0,
        "devices": 0, "devices_that_would_fail": 17, "reports_of_other_builds": 0}
    [passing] = [v for v in doc["versions"] if v["accepts"]]
    assert passing["matching_pins"] == [spki_pin(rot.int_b)]  # its backup pin
    assert "does not verify to a public root" in doc["chain"]["warnings"][0]
    nxt = doc["next_release"]
    assert nxt["pins"][:2] == [spki_pin(rot.leaf_b), spki_pin(rot.int_b)]
    assert set(nxt["pins"][2:]) == {spki_pin(rot.leaf_a1), spki_pin(rot.int_a),
                                    spki_pin(rot.int_b)} - set(nxt["pins"][:2])


def test_device_counts_per_build_within_the_sketch_error(
        rdb: redis.Redis, redis_server: Any, rot: Rotation) -> None:
    st = ReportStore(connect(redis_server.url, 2.0), Keys("pc"), retention_s=90 * 86400,
                     host_cap=200)
    reports = field_reports(rot, devices_scale=40)
    write(st, reports)
    doc = rehearse(ReadContext(rdb, Keys("pc"), 90), rot.other_ca)
    for v in doc["versions"]:
        truth = len({r.device for r in reports
                     if (r.app_version, r.platform) == (v["app_version"], v["platform"])})
        assert abs(v["devices"] - truth) <= 0.05 * truth, v
    failing = len({r.device for r in reports if (r.app_version, r.platform) != ("3.0", "IOS")})
    assert abs(doc["devices_that_would_fail"] - failing) <= 0.05 * failing


def test_the_window_leaves_out_builds_not_seen_in_it(
        q: ReadContext, rdb: redis.Redis, redis_server: Any, rot: Rotation) -> None:
    """Build 0.9 pinned a key retired long ago and was last seen 40 days back."""
    old_pin = spki_pin(rot.leaf_b)
    doc = trustkit_doc("0.9", "IOS", [old_pin], "old-device")
    old = formats.build(doc, received_ms=int(time.time() * 1000) - 40 * DAY_MS, secret=b"s",
                        client_addr=None)
    st = ReportStore(connect(redis_server.url, 2.0), Keys("pc"), retention_s=90 * 86400,
                     host_cap=200)
    write(st, [old], start=50_000)
    assert verdicts(rehearse(q, rot.current))["0.9", "IOS"] == "fail"
    recent = rehearse(q, rot.current, Window(since=datetime.now(UTC) - timedelta(days=30)))
    assert ("0.9", "IOS") not in verdicts(recent) and recent["would_fail"] is False


def test_expired_pin_sets_and_reports_without_an_app(
        rdb: redis.Redis, redis_server: Any, rot: Rotation) -> None:
    st = ReportStore(connect(redis_server.url, 2.0), Keys("pc"), retention_s=90 * 86400,
                     host_cap=200)
    expired = field_reports(rot, expiration="2020-01-01")
    chromium = formats.build(example_doc("chromium-hpkp.json"), received_ms=int(
        time.time() * 1000), secret=b"s", client_addr="192.0.2.1")
    expect_ct = formats.build(example_doc("expect-ct.json"), received_ms=int(
        time.time() * 1000), secret=b"s", client_addr="192.0.2.2")
    write(st, [*expired, chromium, dataclasses.replace(expect_ct, hostname=HOST)])
    doc = rehearse(ReadContext(rdb, Keys("pc"), 90), rot.other_ca)
    found = verdicts(doc)
    assert found["1.0", "IOS"] == "not-enforced"  # expired: TrustKit accepts anything
    assert doc["summary"]["not_enforced"] == 4
    [nulls] = [v for v in doc["versions"] if v["app_id"] is None]
    assert (nulls["app_version"], nulls["platform"]) == (None, None)
    assert {s["verdict"] for s in nulls["pin_sets"]} == {"fail", "unpinned"}
    assert nulls["verdict"] == "fail"  # the HPKP pins (of the golden reports) match no key
    assert doc["would_fail"] is True
    pin_sets = [s for v in doc["versions"] for s in v["pin_sets"] if s["expired"]]
    assert pin_sets and all(s["accepts"] and s["days_to_expiry"] < 0 for s in pin_sets)


def test_an_unknown_host_is_none(q: ReadContext, rot: Rotation) -> None:
    assert rehearsal_doc(q, "never.example.com", Window(), parse_bundle(rot.current)) is None
    assert pem(rot.leaf_a1)  # one certificate is a chain too
    assert rehearse(q, pem(rot.leaf_a1))["versions"]
