"""The app wires the alerter into the write path: a posted report fires into the log (and the
outbox only per destination); with every rule off nothing is recorded."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import redis
from flask.testing import FlaskClient

from collector import create_app
from collector.aggregates.keys import Keys
from collector.config import Settings
from tests.helpers import CHROME_FP, IOS_FP, example, public_trust_ios, send


def test_a_posted_report_fires_into_the_log(client: FlaskClient, rdb: redis.Redis,
                                            keys: Keys) -> None:
    send(client, example("trustkit-ios.json"), example("trustkit-ios.json"))
    [(_, fields)] = rdb.xrange(keys.alerts.log)
    alert = json.loads(fields[b"alert"])
    assert (alert["rule"], alert["hostname"], alert["fingerprint"]) == (
        "new-chain", "api.example.com", IOS_FP)
    assert alert["url"] == "http://127.0.0.1:8000/hosts/api.example.com"
    assert not rdb.exists(keys.alerts.outbox)  # no destination configured
    svc = client.application.extensions["collector"]
    assert svc.alerter is not None and svc.alerter.stats.fired["new-chain"] == 1


def test_public_trust_and_enforced_failures(pclient: FlaskClient, rdb: redis.Redis,
                                            keys: Keys) -> None:
    send(pclient, public_trust_ios())
    send(pclient, public_trust_ios(**{"enforce-pinning": True}))
    send(pclient, public_trust_ios(**{"enforce-pinning": True, "app-vendor-id": "another"}))
    alerts = [json.loads(f[b"alert"]) for _, f in rdb.xrange(keys.alerts.log)]
    assert [(a["rule"], a["fingerprint"], a["classification"]) for a in alerts] == [
        ("new-public-trust-chain", CHROME_FP, "public-trust"),
        ("enforced-failures", CHROME_FP, "public-trust")]
    assert (alerts[1]["reports"], alerts[1]["devices"]) == (2, 1)


def test_every_rule_off_records_nothing(settings: Settings, rdb: redis.Redis, keys: Keys,
                                        tmp_path: Path) -> None:
    app = create_app(dataclasses.replace(settings, alert_rules=()))
    try:
        assert app.extensions["collector"].alerter is None
        send(app.test_client(), example("trustkit-ios.json"))
    finally:
        app.extensions["collector"].ingestor.close()
    assert not rdb.exists(keys.alerts.log, keys.alerts.outbox)
    assert not list(rdb.scan_iter(f"{keys.prefix}:*:events"))
