"""The canonical record's JSON form: the spool's unit, so it must round-trip exactly."""

from __future__ import annotations

import dataclasses
import json

import pytest

from collector.intake import formats
from collector.intake.report import Report
from tests.helpers import example_doc


@pytest.mark.parametrize("name", ["trustkit-ios.json", "trustkit-android.json",
                                  "chromium-hpkp.json", "expect-ct.json"])
def test_round_trip_keeps_every_field_and_the_extras(name: str) -> None:
    report = formats.build(example_doc(name), received_ms=1_700_000_000_000, secret=b"k" * 32,
                           client_addr="10.0.0.1")
    report = dataclasses.replace(report, classification="interception", label="Burp Suite",
                                 flags=("expired",))
    raw = report.to_json(writer="host-1-abc", seq=42)
    doc = json.loads(raw)
    assert doc["chain"]["fingerprint"] == report.chain.fingerprint
    assert raw == json.dumps(doc, separators=(",", ":")).encode()  # compact, one "chain" key
    again, extra = Report.from_json(raw)
    assert again == report and extra == {"writer": "host-1-abc", "seq": 42}


def test_same_chain_different_reports_share_nothing_but_the_chain() -> None:
    base = formats.build(example_doc("trustkit-ios.json"), received_ms=1, secret=b"k" * 32,
                         client_addr=None)
    other = dataclasses.replace(base, hostname="other.example", received_ms=2)
    a, b = (Report.from_json(r.to_json())[0] for r in (base, other))
    assert (a.hostname, a.received_ms) == (base.hostname, 1)
    assert (b.hostname, b.received_ms) == ("other.example", 2) and a.chain == b.chain


def test_a_record_spooled_before_the_class_fields_existed_still_decodes() -> None:
    report = formats.build(example_doc("chromium-hpkp.json"), received_ms=1, secret=b"k" * 32,
                           client_addr=None)
    report = dataclasses.replace(report, classification="public-trust", label="R1")
    doc = json.loads(report.to_json(writer="w", seq=3))
    old = {k: v for k, v in doc.items()
           if k not in ("chain_classification", "chain_label", "class_version")}
    again, extra = Report.from_json(json.dumps(old).encode())
    assert again == report and extra == {"writer": "w", "seq": 3}
    assert (again.chain_classification, again.chain_label, again.class_version) == (
        None, None, None)
