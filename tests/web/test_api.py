"""Report ingestion and the analyst reads, through the WSGI app against a real Redis."""

from __future__ import annotations

from typing import Any

import redis
from flask.testing import FlaskClient

from tests.helpers import auth, example, example_doc, post, post_chunked

IOS_FP = "eaa82f0fbf1e1c87fb2b8c5f921bf7644a4a30f38e52b1410b0994e4d91c4a5f"
CHROME_FP = "0c8006c3dfde126f5831a9a4676105cf239bf85ad55cd3daed1069cff7319a37"


def summary(client: FlaskClient, **params: Any) -> dict[str, Any]:
    resp = client.get("/v1/summary", headers=auth(), query_string=params)
    assert resp.status_code == 200, resp.json
    doc: dict[str, Any] = resp.json
    return doc


def test_ios_and_android_examples_are_one_chain(client: FlaskClient) -> None:
    assert post(client, example("trustkit-ios.json")).status_code == 204
    resp = post_chunked(client, example("trustkit-android.json"))
    assert resp.status_code == 204
    doc = summary(client)
    assert doc["reports"] == 2
    assert doc["hosts"] == 1
    assert doc["chains"] == 1
    assert doc["devices"] == 2
    assert doc["top_chains"][0]["fingerprint"] == IOS_FP
    assert doc["top_hosts"] == [{"hostname": "api.example.com", "reports": 2}]


def test_every_example_format_is_accepted(client: FlaskClient) -> None:
    for name in ("trustkit-ios.json", "trustkit-android.json", "chromium-hpkp.json",
                 "expect-ct.json", "trustkit-ios-captured-2015.json"):
        ctype = "application/expect-ct-report+json; charset=utf-8" if "expect" in name \
            else "application/json"
        resp = post(client, example(name), content_type=ctype)
        assert resp.status_code == 204, (name, resp.json)
    doc = summary(client)
    assert doc["reports"] == 5
    assert doc["hosts"] == 2
    assert doc["chains"] == 3
    chains = {c["fingerprint"]: c["reports"] for c in doc["top_chains"]}
    assert chains[IOS_FP] == 2
    assert chains[CHROME_FP] == 2


def test_host_view_groups_by_chain(client: FlaskClient) -> None:
    post(client, example("trustkit-ios.json"))
    post(client, example("trustkit-android.json"))
    post(client, example("chromium-hpkp.json"))
    resp = client.get("/v1/hosts/API.example.com.", headers=auth())
    assert resp.status_code == 200
    doc = resp.json
    assert doc["hostname"] == "api.example.com"
    assert doc["reports"] == 3
    assert {c["fingerprint"]: c["reports"] for c in doc["chains"]} == {IOS_FP: 2, CHROME_FP: 1}
    apps = {(a["app_id"], a["platform"]): a["reports"] for a in doc["apps"]}
    assert apps == {("com.example.app", "IOS"): 1, ("com.example.app", "ANDROID"): 1,
                    (None, None): 1}
    assert doc["validation_results"] == {"1": 2, "none": 1}
    assert doc["enforcement"] == {"enforced": 0, "report_only": 2, "unknown": 1}
    assert doc["first_seen"].endswith("Z")


def test_replayed_identical_body_counts_each_post(client: FlaskClient, rdb: redis.Redis) -> None:
    for _ in range(3):
        assert post(client, example("trustkit-ios.json")).status_code == 204
    assert summary(client)["reports"] == 3
    assert summary(client)["devices"] == 1


def test_reads_need_a_token(client: FlaskClient) -> None:
    for path in ("/v1/summary", "/v1/hosts/api.example.com"):
        for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic x"}):
            resp = client.get(path, headers=headers)
            assert resp.status_code == 401
            assert resp.content_type == "application/problem+json"
            assert resp.json["status"] == 401


def test_unknown_host_is_404(client: FlaskClient) -> None:
    resp = client.get("/v1/hosts/nothing.example", headers=auth())
    assert resp.status_code == 404
    assert resp.content_type == "application/problem+json"


def test_healthz(client: FlaskClient) -> None:
    assert client.get("/healthz").status_code == 200


def test_example_doc_loads() -> None:
    assert example_doc("trustkit-ios.json")["port"] == 0


def test_rate_limit_answers_429_with_retry_after(settings: Any) -> None:
    import dataclasses

    from collector import create_app

    app = create_app(dataclasses.replace(settings, rate_limit_per_minute=1))
    try:
        client = app.test_client()
        codes = [post(client, example("trustkit-ios.json")).status_code for _ in range(3)]
        assert codes[:2] == [204, 204]
        resp = post(client, example("trustkit-ios.json"))
        assert resp.status_code == 429
        assert int(resp.headers["Retry-After"]) >= 1
        assert resp.content_type == "application/problem+json"
    finally:
        app.extensions["collector"].ingestor.close()


def test_host_view_counts_report_flags(client: FlaskClient) -> None:
    doc = example_doc("trustkit-ios.json")
    doc["date-time"] = "yesterday"
    assert post(client, doc).status_code == 204
    doc["date-time"] = "2025-03-04T09:15:27"  # no zone: read as UTC, flagged
    assert post(client, doc).status_code == 204
    flags = client.get("/v1/hosts/api.example.com", headers=auth()).json["flags"]
    assert flags == {"client-time-unparsed": 1, "client-time-no-zone": 1}
