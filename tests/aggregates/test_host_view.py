"""The host view and the summary (issue 11): pair figures, losing service now vs at risk, the
``other`` chains, test reports, windows, and classes recomputed when the roots change.

Reports go through the app's own path (classify, then the ingestor) with a chosen receipt
time, so a test can hold reports from ten days ago without sleeping."""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from collector import create_app
from collector.config import Settings
from collector.intake import formats
from collector.intake.report import TEST_REPORT
from tests.helpers import (
    CHROME_FP,
    EXAMPLES,
    IOS_FP,
    auth,
    example_doc,
    flush,
    public_trust_ios,
)

HOST = "api.example.com"
NOW_MS = int(time.time() * 1000)
OLD_MS = NOW_MS - 10 * 86_400_000
APP = {"app_id": "com.example.app", "app_version": "4.2.0", "platform": "IOS"}


def _doc(device: str, *, public: bool, enforce: bool | None, **changes: Any) -> dict[str, Any]:
    doc = public_trust_ios() if public else example_doc("trustkit-ios.json")
    doc["app-vendor-id"] = device
    if enforce is None:
        doc.pop("enforce-pinning", None)
    else:
        doc["enforce-pinning"] = enforce
    doc.update(changes)
    return doc


def _other_chain(device: str) -> dict[str, Any]:
    """An unknown chain of its own (the 2015 capture's) reported for HOST."""
    doc = _doc(device, public=False, enforce=False)
    doc["validated-certificate-chain"] = copy.deepcopy(
        example_doc("trustkit-ios-captured-2015.json")["validated-certificate-chain"])
    return doc


def submit(app: Flask, *docs: dict[str, Any], received_ms: int = NOW_MS,
           flags: tuple[str, ...] = ()) -> None:
    """Accept reports as the POST route does, received at ``received_ms``."""
    svc = app.extensions["collector"]
    for doc in docs:
        report = formats.build(doc, received_ms=received_ms, secret=svc.device_secret,
                               client_addr=None)
        if flags:
            report = dataclasses.replace(report, flags=(*report.flags, *flags))
        svc.ingestor.submit(svc.classify(report))
    flush(app.test_client())


def get(client: FlaskClient, path: str, **query: str) -> Any:
    resp = client.get(path, query_string=query, headers=auth())
    assert resp.status_code == 200, resp.json
    return resp.json


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).replace(microsecond=0) \
        .isoformat().replace("+00:00", "Z")


@pytest.fixture
def capped(settings: Settings) -> Iterator[Flask]:
    """The public-root app with a per-host cap of one chain."""
    application = create_app(dataclasses.replace(
        settings, public_roots=str(EXAMPLES / "public-root.pem"), host_cap=1))
    yield application
    application.extensions["collector"].ingestor.close()


def _incident(papp: Flask) -> None:
    """Ten days ago: one enforcing device failing on the public chain, one report-only device
    on the proxy chain. Now: an enforcing and a report-only device on the public chain, the
    report-only one on the proxy chain too, and a test report."""
    submit(papp, _doc("old-a", public=True, enforce=True),
           _doc("old-b", public=False, enforce=False), received_ms=OLD_MS)
    submit(papp, _doc("new-a", public=True, enforce=True),
           _doc("new-b", public=True, enforce=False),
           _doc("new-b", public=False, enforce=False))
    submit(papp, _doc("tester", public=True, enforce=True), flags=(TEST_REPORT,))


def test_pair_figures_and_losing_service_now(papp: Flask, pclient: FlaskClient) -> None:
    _incident(papp)
    doc = get(pclient, f"/v1/hosts/{HOST}")
    assert (doc["reports"], doc["devices"]) == (5, 4)
    assert (doc["test_reports"], doc["test_reports_all_time"]) == (1, 1)
    assert [c["fingerprint"] for c in doc["chains"]] == [CHROME_FP, IOS_FP]
    public, proxy = doc["chains"]
    assert public["classification"] == "public-trust" and public["label"]
    assert (public["reports"], public["devices"]) == (3, 3)
    assert public["enforcement"] == {"enforced": 2, "report_only": 1, "unknown": 0}
    assert public["apps"] == [{**APP, "reports": 3}]
    assert (public["reports_failing_now"], public["devices_failing_now"]) == (2, 2)
    assert (public["reports_at_risk"], public["devices_at_risk"]) == (1, 1)
    assert public["first_seen"] == _iso(OLD_MS) and public["last_seen"] == _iso(NOW_MS)
    assert proxy["classification"] == "unknown"
    assert (proxy["reports"], proxy["devices"]) == (2, 2)
    assert (proxy["reports_failing_now"], proxy["devices_at_risk"]) == (0, 0)
    assert doc["more_chains"] == {"reports": 0, "chains": 0, "chains_all_time": 0}
    risk = doc["hard_fail_readiness"]
    assert (risk["devices_failing_now"], risk["reports_failing_now"]) == (2, 2)
    assert (risk["devices_at_risk"], risk["reports_at_risk"]) == (1, 1)
    assert risk["by_app"] == [{**APP, "reports_failing_now": 2, "devices_failing_now": 2,
                               "reports_at_risk": 1, "devices_at_risk": 1}]
    assert risk["by_app_version"] == [{"app_version": "4.2.0", "reports": 1, "devices": 1}]

    summary = get(pclient, "/v1/summary")
    assert summary["hosts_losing_service_now"] == [{"hostname": HOST, "reports": 2, "devices": 2}]
    assert (summary["devices_failing_now"], summary["devices_at_risk"]) == (2, 1)
    assert (summary["reports"], summary["test_reports_all_time"]) == (5, 1)


def test_a_window_excludes_older_reports_from_every_figure(papp: Flask,
                                                           pclient: FlaskClient) -> None:
    _incident(papp)
    since = _iso(NOW_MS - 2 * 86_400_000)
    doc = get(pclient, f"/v1/hosts/{HOST}", since=since)
    assert (doc["reports"], doc["devices"]) == (3, 2)
    assert doc["first_seen"] >= since and doc["last_seen"] == _iso(NOW_MS)
    assert (doc["test_reports"], doc["test_reports_all_time"]) == (1, 1)
    assert doc["apps"] == [{**APP, "reports": 3}]
    assert doc["enforcement"] == {"enforced": 1, "report_only": 2, "unknown": 0}
    assert sum(doc["validation_results"].values()) == 3
    assert sum(p["reports"] for p in doc["pin_sets"]) == 3
    public, proxy = doc["chains"]
    assert (public["fingerprint"], public["reports"], public["devices"]) == (CHROME_FP, 2, 2)
    assert public["enforcement"] == {"enforced": 1, "report_only": 1, "unknown": 0}
    assert public["first_seen"] >= since
    assert (public["devices_failing_now"], public["devices_at_risk"]) == (1, 1)
    assert (proxy["reports"], proxy["devices"]) == (1, 1)
    assert proxy["first_seen"] >= since
    risk = doc["hard_fail_readiness"]
    assert (risk["devices_failing_now"], risk["reports_failing_now"]) == (1, 1)
    assert (risk["devices_at_risk"], risk["reports_at_risk"]) == (1, 1)
    # Distinct devices per app are kept all-time only: unknown for a part of the history.
    assert risk["by_app"] == [{**APP, "reports_failing_now": 1, "devices_failing_now": None,
                               "reports_at_risk": 1, "devices_at_risk": None}]
    assert risk["by_app_version"] == [{"app_version": "4.2.0", "reports": 1, "devices": None}]

    summary = get(pclient, "/v1/summary", since=since)
    assert (summary["reports"], summary["hosts"], summary["devices"]) == (3, 1, 2)
    assert summary["hosts_losing_service_now"] == [{"hostname": HOST, "reports": 1, "devices": 1}]
    assert (summary["devices_failing_now"], summary["devices_at_risk"]) == (1, 1)
    assert (summary["test_reports"], summary["test_reports_all_time"]) == (1, 1)

    [item] = get(pclient, "/v1/hosts", since=since)["items"]
    assert (item["reports"], item["devices"], item["chains"]) == (3, 2, 2)
    assert item["first_seen"] >= since and item["last_seen"] == _iso(NOW_MS)
    [item] = get(pclient, "/v1/hosts", until=_iso(OLD_MS + 3_600_000))["items"]
    assert (item["reports"], item["devices"], item["chains"]) == (2, 2, 2)
    assert item["first_seen"] == item["last_seen"] == _iso(OLD_MS)

    old = get(pclient, f"/v1/hosts/{HOST}", until=_iso(OLD_MS + 3_600_000))
    assert (old["reports"], old["devices"]) == (2, 2)
    assert [(c["fingerprint"], c["reports"]) for c in old["chains"]] == [
        (CHROME_FP, 1), (IOS_FP, 1)]
    assert old["hard_fail_readiness"]["devices_failing_now"] == 1
    assert old["hard_fail_readiness"]["devices_at_risk"] == 0
    assert old["last_seen"] == _iso(OLD_MS)
    assert (old["test_reports"], old["test_reports_all_time"]) == (0, 1)
    old_summary = get(pclient, "/v1/summary", until=_iso(OLD_MS + 3_600_000))
    assert (old_summary["reports"], old_summary["test_reports"]) == (2, 0)
    assert old_summary["hosts_losing_service_now"] == [
        {"hostname": HOST, "reports": 1, "devices": 1}]
    assert (old_summary["devices_failing_now"], old_summary["devices_at_risk"]) == (1, 0)

    # A window holding the whole history gives the all-time figures, per-app devices too.
    whole = get(pclient, f"/v1/hosts/{HOST}", since=_iso(OLD_MS - 86_400_000))
    assert whole["hard_fail_readiness"]["by_app"][0]["devices_failing_now"] == 2
    assert whole["more_chains"]["chains"] == 0

    nothing = get(pclient, "/v1/summary", since="2999-01-01T00:00:00Z")
    assert nothing["hosts_losing_service_now"] == [] and nothing["devices_at_risk"] == 0


def test_other_chains_are_counted_not_listed(capped: Flask) -> None:
    submit(capped, _doc("a", public=False, enforce=False))  # the one chain the cap allows
    submit(capped, _other_chain("b"))  # past the cap: other
    submit(capped, _doc("c", public=True, enforce=True))  # protected: evicts the proxy chain
    doc = get(capped.test_client(), f"/v1/hosts/{HOST}")
    assert [c["fingerprint"] for c in doc["chains"]] == [CHROME_FP]
    assert doc["chains"][0]["classification"] == "public-trust"
    assert doc["more_chains"] == {"reports": 2, "chains": 2, "chains_all_time": 2}
    assert doc["reports"] == 3
    windowed = get(capped.test_client(), f"/v1/hosts/{HOST}",
                   since=_iso(NOW_MS - 86_400_000))
    assert windowed["more_chains"]["reports"] == 2
    assert [c["fingerprint"] for c in windowed["chains"]] == [CHROME_FP]


def test_a_new_roots_file_flips_the_stored_class_on_read(papp: Flask, pclient: FlaskClient,
                                                         client: FlaskClient) -> None:
    submit(papp, _doc("a", public=True, enforce=True))
    assert get(pclient, f"/v1/hosts/{HOST}")["chains"][0]["classification"] == "public-trust"
    # The same data read by a collector without that root: the stored cv is stale.
    chain = get(client, f"/v1/hosts/{HOST}")["chains"][0]
    assert chain["classification"] == "unknown"
    assert chain["pins_that_would_pass"] == []
    assert (chain["reports_failing_now"], chain["devices_failing_now"]) == (0, 0)
    # The other way round: a collector without the root stores unknown; read with it, the
    # pair is public-trust again.
    submit(client.application, _doc("b", public=True, enforce=True))
    assert get(client, f"/v1/hosts/{HOST}")["chains"][0]["classification"] == "unknown"
    chain = get(pclient, f"/v1/hosts/{HOST}")["chains"][0]
    assert chain["classification"] == "public-trust"
    assert (chain["reports_failing_now"], chain["devices_failing_now"]) == (2, 2)
    assert [p["position"] for p in chain["pins_that_would_pass"]] == [
        "leaf", "intermediate", "root"]


def test_test_reports_count_apart(papp: Flask, pclient: FlaskClient) -> None:
    submit(papp, _doc("a", public=True, enforce=True))
    submit(papp, _doc("t", public=True, enforce=True), _doc("t", public=False, enforce=True),
           flags=(TEST_REPORT,))
    doc = get(pclient, f"/v1/hosts/{HOST}")
    assert (doc["reports"], doc["devices"], doc["test_reports_all_time"]) == (1, 1, 2)
    assert [c["reports"] for c in doc["chains"]] == [1]
    assert doc["hard_fail_readiness"]["devices_failing_now"] == 1
    summary = get(pclient, "/v1/summary")
    assert (summary["reports"], summary["test_reports"]) == (1, 2)
    assert summary["hosts_losing_service_now"][0]["reports"] == 1
    assert summary["by_classification"] == {"public-trust": 1}


def test_views_without_a_pair_record_fall_back_to_the_chain(papp: Flask,
                                                            pclient: FlaskClient) -> None:
    """Data written before pairs existed: the chain's record decides, recomputed per host."""
    submit(papp, _doc("a", public=True, enforce=False))
    svc = papp.extensions["collector"]
    rdb, hk = svc.reads.client, svc.reads.keys.host(HOST)
    rdb.delete(hk.pair(CHROME_FP))
    chain = get(pclient, f"/v1/hosts/{HOST}")["chains"][0]
    assert chain["classification"] == "public-trust"
    assert chain["reports"] == 1


def test_a_window_before_the_first_report_is_empty(papp: Flask, pclient: FlaskClient) -> None:
    submit(papp, _doc("a", public=True, enforce=True), received_ms=OLD_MS)
    doc = get(pclient, f"/v1/hosts/{HOST}", until=_iso(OLD_MS - 3_600_000))
    assert (doc["reports"], doc["devices"], doc["chains"], doc["first_seen"]) == (0, 0, [], None)
    assert doc["more_chains"]["reports"] == 0
    risk = doc["hard_fail_readiness"]
    assert (risk["devices_failing_now"], risk["by_app"]) == (0, [])
