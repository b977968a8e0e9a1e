"""Triage and alerts through the API: named tokens as who, the audit, rejections, the alert log."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from collector import create_app
from collector.aggregates.keys import Keys
from collector.alerts import triage
from collector.config import Settings
from tests.helpers import CHROME_FP, CHROME_PINS, IOS_FP, TOKEN, auth, send_golden, snapshot

HOST = "api.example.com"


@pytest.fixture
def named(settings: Settings) -> Iterator[FlaskClient]:
    """The app with a named token (alice) and a bare one (token-2)."""
    app: Flask = create_app(dataclasses.replace(
        settings, api_tokens=("alice:alice-secret-1", "bare-secret-2")))
    yield app.test_client()
    app.extensions["collector"].ingestor.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def put(client: FlaskClient, path: str, body: Any, headers: dict[str, str] | None = None,
        **kw: Any) -> Any:
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.put(path, data=data, headers=auth() if headers is None else headers,
                      content_type=kw.pop("content_type", "application/json"), **kw)


def test_named_and_bare_tokens_are_recorded_as_who(named: FlaskClient) -> None:
    resp = put(named, f"/v1/triage/pairs/{HOST}/{IOS_FP}",
               {"state": "ignored", "note": "our test rig"}, bearer("alice-secret-1"))
    assert resp.status_code == 200, resp.json
    assert resp.json["hostname"] == HOST and resp.json["fingerprint"] == IOS_FP
    t = resp.json["triage"]
    assert (t["state"], t["note"], t["by"], t["via"]) == ("ignored", "our test rig", "alice",
                                                          "pair")
    assert t["at"].endswith("Z")
    resp = put(named, f"/v1/triage/issuers/{CHROME_PINS[1]}", {"state": "acknowledged"},
               bearer("bare-secret-2"))
    assert resp.status_code == 200, resp.json
    assert resp.json["pin"] == CHROME_PINS[1]
    assert resp.json["triage"]["by"] == "token-2" and resp.json["triage"]["note"] is None
    audit = named.get("/v1/triage/audit", headers=bearer("alice-secret-1")).json
    assert [(e["target"], e["by"], e["state"]) for e in audit["items"]] == [
        ("issuer", "token-2", "acknowledged"), ("pair", "alice", "ignored")]
    assert audit["next_cursor"] is None
    assert named.get("/v1/summary", headers=bearer("name:alice-secret-1")).status_code == 401
    assert named.get("/v1/summary", headers=bearer("alice")).status_code == 401


def test_the_generated_token_is_named_generated(settings: Settings) -> None:
    app = create_app(dataclasses.replace(settings, api_tokens=()))
    try:
        (name, token), = app.extensions["collector"].api_tokens
        assert name == "generated"
        resp = put(app.test_client(), f"/v1/triage/pairs/{HOST}/{IOS_FP}",
                   {"state": "acknowledged", "note": ""}, bearer(token))
        assert resp.status_code == 200 and resp.json["triage"]["by"] == "generated"
    finally:
        app.extensions["collector"].ingestor.close()


def test_a_pair_not_yet_reported_may_be_triaged_ahead(client: FlaskClient, rdb: redis.Redis,
                                                      keys: Keys) -> None:
    resp = put(client, f"/v1/triage/pairs/B%C3%BCcher.example/{'A' * 64}",
               {"state": "ignored"})
    assert resp.status_code == 200, resp.json
    assert resp.json["hostname"] == "xn--bcher-kva.example"  # the A-label, as in reports
    assert resp.json["fingerprint"] == "a" * 64
    assert triage.is_ignored(rdb, keys, "xn--bcher-kva.example", "a" * 64, [])


@pytest.mark.parametrize(("path", "body", "status"), [
    (f"/v1/triage/pairs/{HOST}/{IOS_FP}", {"state": "closed"}, 422),
    (f"/v1/triage/pairs/{HOST}/{IOS_FP}", {"state": "ignored", "note": "x" * 501}, 422),
    (f"/v1/triage/pairs/{HOST}/{IOS_FP}", {"state": "ignored", "by": "mallory"}, 422),
    (f"/v1/triage/pairs/{HOST}/{IOS_FP}", {"note": "no state"}, 422),
    (f"/v1/triage/pairs/{HOST}/{IOS_FP}", {"state": "ignored", "note": None}, 422),
    (f"/v1/triage/pairs/{HOST}/{IOS_FP}", ["ignored"], 422),
    (f"/v1/triage/pairs/{HOST}/{IOS_FP}", "{not json", 400),
    (f"/v1/triage/pairs/{HOST}/{IOS_FP}", "", 400),
    (f"/v1/triage/pairs/{HOST}/{'g' * 64}", {"state": "ignored"}, 404),
    (f"/v1/triage/pairs/{HOST}/{IOS_FP[:63]}", {"state": "ignored"}, 404),
    (f"/v1/triage/pairs/not_a..host/{IOS_FP}", {"state": "ignored"}, 404),
    ("/v1/triage/issuers/not-a-pin", {"state": "ignored"}, 404),
    ("/v1/triage/issuers/" + "A" * 43 + "=", {"state": "bogus"}, 422),
    ("/v1/triage/issuers/" + "A" * 43 + "=", {"state": "ignored", "note": "\ud800"}, 422),
    (f"/v1/triage/pairs/{HOST}/{IOS_FP}", {"state": "ignored", "note": "y" * 5000}, 413),
])
def test_rejections_store_nothing(client: FlaskClient, rdb: redis.Redis, path: str, body: Any,
                                  status: int) -> None:
    before = snapshot(rdb)
    resp = put(client, path, body)
    assert resp.status_code == status, resp.json
    assert resp.mimetype == "application/problem+json"
    assert snapshot(rdb) == before


def test_wrong_media_type_and_missing_token_store_nothing(client: FlaskClient,
                                                          rdb: redis.Redis) -> None:
    path = f"/v1/triage/pairs/{HOST}/{IOS_FP}"
    before = snapshot(rdb)
    assert put(client, path, {"state": "ignored"}, content_type="text/plain").status_code == 415
    assert put(client, path, {"state": "ignored"}, headers={}).status_code == 401
    assert put(client, path, {"state": "ignored"}, bearer("wrong")).status_code == 401
    assert client.get("/v1/alerts").status_code == 401
    assert client.get("/v1/triage/audit").status_code == 401
    assert snapshot(rdb) == before


def test_a_pin_with_a_slash_and_the_directive_form(client: FlaskClient) -> None:
    pin = next(p for p in CHROME_PINS if "/" in p)
    for raw in (pin, pin.replace("/", "%2F"), 'pin-sha256="' + pin + '"'):
        resp = put(client, "/v1/triage/issuers/" + raw, {"state": "ignored"})
        assert resp.status_code == 200, (raw, resp.json)
        assert resp.json["pin"] == pin


def test_ignored_pairs_leave_the_host_chains_list(client: FlaskClient) -> None:
    send_golden(client)
    assert put(client, f"/v1/triage/pairs/{HOST}/{CHROME_FP}",
               {"state": "ignored", "note": "known"}).status_code == 200
    doc = client.get(f"/v1/hosts/{HOST}", headers=auth()).json
    assert [c["fingerprint"] for c in doc["chains"]] == [IOS_FP]
    assert [c["fingerprint"] for c in doc["ignored_chains"]] == [CHROME_FP]
    assert put(client, f"/v1/triage/pairs/{HOST}/{CHROME_FP}", {"state": "open"}).status_code \
        == 200
    doc = client.get(f"/v1/hosts/{HOST}", headers=auth()).json
    assert doc["ignored_chains"] == [] and len(doc["chains"]) == 2
    assert [c["triage"]["state"] for c in doc["chains"]] == ["open", "open"]
    assert len(client.get("/v1/triage/audit?limit=1", headers=auth()).json["items"]) == 1


def test_audit_pages(client: FlaskClient) -> None:
    for i in range(5):
        put(client, f"/v1/triage/pairs/{HOST}/{IOS_FP}", {"state": "open", "note": f"n{i}"})
    seen, cursor = [], None
    while True:
        doc = client.get("/v1/triage/audit", query_string={"limit": 2, **(
            {"cursor": cursor} if cursor else {})}, headers=auth()).json
        seen += [e["note"] for e in doc["items"]]
        cursor = doc["next_cursor"]
        if not cursor:
            break
    assert seen == ["n4", "n3", "n2", "n1", "n0"]
    bad = client.get("/v1/triage/audit?cursor=zzz", headers=auth())
    assert bad.status_code == 400 and "cursor" in bad.json["errors"]


def alert(n: int, **changes: Any) -> dict[str, Any]:
    doc = {"id": f"{n:032x}", "rule": "new-chain", "hostname": HOST, "fingerprint": IOS_FP,
           "classification": "unknown", "label": None, "reports": n, "devices": 1,
           "first_seen": "2026-01-01T00:00:00Z", "fired_at": f"2026-01-01T00:00:{n:02d}Z",
           "url": f"http://127.0.0.1:8000/hosts/{HOST}"}
    doc.update(changes)
    return doc


def add_alerts(rdb: redis.Redis, keys: Keys, docs: list[dict[str, Any]]) -> None:
    for doc in docs:
        rdb.xadd(keys.alerts.log, {"alert": json.dumps(doc, separators=(",", ":"))},
                 maxlen=10000, approximate=True)


def test_alerts_are_listed_newest_first_with_stream_cursors(client: FlaskClient,
                                                            rdb: redis.Redis,
                                                            keys: Keys) -> None:
    assert client.get("/v1/alerts", headers=auth()).json == {"items": [], "next_cursor": None}
    docs = [alert(i) for i in range(1, 6)]
    docs[2] = alert(3, rule="spike", fingerprint=None, classification=None, extra="dropped")
    add_alerts(rdb, keys, docs)
    seen, cursor, pages = [], None, 0
    while True:
        doc = client.get("/v1/alerts", query_string={"limit": 2, **(
            {"cursor": cursor} if cursor else {})}, headers=auth()).json
        pages += 1
        seen += doc["items"]
        cursor = doc["next_cursor"]
        if not cursor:
            break
    assert pages == 3
    assert [a["reports"] for a in seen] == [5, 4, 3, 2, 1]
    assert "extra" not in seen[2] and seen[2]["fingerprint"] is None
    assert seen[0] == docs[4]
    for bad in ("nope", "0-0", "99999999999999999999-0"):
        resp = client.get(f"/v1/alerts?cursor={bad}", headers=auth())
        assert resp.status_code == 400, bad
    # an alert fired after the first page never shifts the next one
    first = client.get("/v1/alerts?limit=2", headers=auth()).json
    add_alerts(rdb, keys, [alert(6)])
    second = client.get(f"/v1/alerts?limit=2&cursor={first['next_cursor']}", headers=auth())
    assert [a["reports"] for a in second.json["items"]] == [3, 2]


def test_the_access_log_names_the_token_never_the_token(named: FlaskClient,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("INFO", logger="collector.access"):
        named.get("/v1/alerts", headers=bearer("alice-secret-1"))
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "collector.access"]
    assert lines and lines[-1]["token_name"] == "alice"
    assert "alice-secret-1" not in caplog.text and TOKEN not in caplog.text
