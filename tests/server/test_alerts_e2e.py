"""Alerts end to end, as an operator wires them: `pin-collector serve` (real gunicorn, two
workers, embedded Redis) pointed at a signing webhook receiver on the loopback.

Real-client reports go in; what must come out at the receiver: one alert per (rule, host,
chain) within the cooldown whichever worker counted the reports, each signed, each with a
distinct stable id, within seconds.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import EXAMPLES, Receiver, Served, example_doc

pytestmark = pytest.mark.e2e

SECRET = "e2e-webhook-secret"
TOKEN = "e2e-token"
PUBLIC_FP = "0c8006c3dfde126f5831a9a4676105cf239bf85ad55cd3daed1069cff7319a37"
IOS_FP = "eaa82f0fbf1e1c87fb2b8c5f921bf7644a4a30f38e52b1410b0994e4d91c4a5f"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.stop()


@pytest.fixture
def served(tmp_path: Path, receiver: Receiver) -> Iterator[Served]:
    collector = Served(tmp_path / "data", env={
        "COLLECTOR_API_TOKENS": f"analyst:{TOKEN}",
        "COLLECTOR_PUBLIC_ROOTS": str(EXAMPLES / "public-root.pem"),
        "COLLECTOR_ALERT_WEBHOOKS": receiver.url,
        "COLLECTOR_ALERT_WEBHOOK_SECRET": SECRET,
        "COLLECTOR_PUBLIC_URL": "https://pins.example.com",
    })
    try:
        yield collector
    finally:
        collector.stop()


def _post(served: Served, doc: dict[str, Any]) -> None:
    status, body = served.request("POST", "/v1/reports", json.dumps(doc).encode(),
                                  {"Content-Type": "application/json"})
    assert status == 204, body


def _wait_for(receiver: Receiver, count: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and len(receiver.bodies()) < count:
        time.sleep(0.1)


def test_a_corpus_fires_each_alert_once_signed_to_a_webhook(served: Served,
                                                             receiver: Receiver) -> None:
    ios = example_doc("trustkit-ios.json")
    public = copy.deepcopy(ios)
    public["validated-certificate-chain"] = \
        example_doc("chromium-hpkp.json")["validated-certificate-chain"]
    # Many connections, so both workers count some of every kind of report.
    for n in range(6):
        for host in ("a.example.com", "b.example.com"):
            doc = copy.deepcopy(ios)
            doc.update({"hostname": host, "noted-hostname": host, "app-vendor-id": f"d{n}"})
            _post(served, doc)
        _post(served, {**public, "app-vendor-id": f"p{n}"})
        _post(served, {**public, "app-vendor-id": f"e{n}", "enforce-pinning": True})

    _wait_for(receiver, 4)
    time.sleep(3)  # anything beyond the four would be a duplicate: give it the time to show
    with receiver.lock:
        got = [({k.lower(): v for k, v in headers.items()}, body)
               for _, headers, body in receiver.requests]
    alerts = [json.loads(body) for _, body in got]
    assert sorted((a["rule"], a["hostname"], a["fingerprint"]) for a in alerts) == [
        ("enforced-failures", "api.example.com", PUBLIC_FP),
        ("new-chain", "a.example.com", IOS_FP),
        ("new-chain", "b.example.com", IOS_FP),
        ("new-public-trust-chain", "api.example.com", PUBLIC_FP),
    ]
    assert len({a["id"] for a in alerts}) == 4
    for headers, body in got:
        assert headers["content-type"] == "application/json"
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["x-pin-collector-signature"], expected)
    by_rule = {a["rule"]: a for a in alerts}
    urgent = by_rule["new-public-trust-chain"]
    assert urgent["classification"] == "public-trust"
    assert urgent["url"] == "https://pins.example.com/hosts/api.example.com"
    assert urgent["reports"] >= 1 and urgent["devices"] >= 1
    assert urgent["first_seen"].endswith("Z") and urgent["fired_at"].endswith("Z")
    assert by_rule["new-chain"]["classification"] == "unknown"

    # The analyst sees the same alerts, by the same ids, through the API.
    status, body = served.request("GET", "/v1/alerts",
                                  headers={"Authorization": f"Bearer {TOKEN}"})
    assert status == 200, body
    listed = json.loads(body)["items"]
    assert {a["id"] for a in listed} == {a["id"] for a in alerts}

    # More of the same within the cooldown fires nothing more.
    for n in range(3):
        _post(served, {**public, "app-vendor-id": f"late{n}", "enforce-pinning": True})
    time.sleep(3)
    assert len(receiver.bodies()) == 4
