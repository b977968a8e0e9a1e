"""The CLI's host and summary tables: losing service now comes first, then the rest."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

from collector.cli import output
from tests.helpers import CHROME_FP, auth, public_trust_ios, send


def _get(client: FlaskClient, path: str, **query: str) -> Any:
    resp = client.get(path, query_string=query, headers=auth())
    assert resp.status_code == 200, resp.json
    return resp.json


def test_summary_and_host_lead_with_losing_service_now(pclient: FlaskClient) -> None:
    send(pclient, public_trust_ios(**{"enforce-pinning": True}),
         public_trust_ios(**{"app-vendor-id": "other-device"}))
    lines = output.summary(_get(pclient, "/v1/summary")).splitlines()
    assert lines[0].startswith("LOSING SERVICE NOW: 1 devices on 1 hosts")
    assert lines[1].split() == ["HOSTNAME", "REPORTS", "DEVICES"]
    assert lines[2].split() == ["api.example.com", "1", "1"]
    assert lines[3] == "At risk if enforced: 1 report-only devices"

    host = _get(pclient, "/v1/hosts/api.example.com")
    text = output.host(host)
    lines = text.splitlines()
    assert lines[1].startswith("LOSING SERVICE NOW: 1 enforcing devices")
    assert lines[2].startswith("at risk if enforced: 1 report-only devices")
    assert "By app:" in text and "FAILING_DEVICES" in text
    assert CHROME_FP in text and "Recommended pin set" in text and "primary" in text
    assert "more chains" not in text
    host["more_chains"] = {"reports": 7, "chains": None, "chains_all_time": 3}
    assert "… more chains (7 reports" in output.host(host)
    host["more_chains"]["chains"] = 3
    assert "… 3 more chains (7 reports" in output.host(host)


def test_windowed_test_reports_show_both_counts() -> None:
    doc = {"test_reports": 0, "test_reports_all_time": 2, "reports": 0, "hosts": 0,
           "chains": 0, "devices": 0, "by_classification": {}, "top_hosts": [],
           "top_chains": [], "hosts_losing_service_now": [], "devices_failing_now": 0,
           "devices_at_risk": 0}
    assert "0 (2 all-time)" in output.summary(doc)
