"""Triage from the host page: CSRF first, the API's own validation, the token's name as who."""

from __future__ import annotations

import re

import pytest
import redis
from flask.testing import FlaskClient

from tests.helpers import CHROME_FP, IOS_FP, auth, snapshot
from tests.web.dashboard.conftest import csrf_of

HOST = "api.example.com"
ACTION = f"/hosts/{HOST}/chains/{IOS_FP}/triage"


def form_token(client: FlaskClient) -> str:
    return csrf_of(client.get(f"/hosts/{HOST}").text)


def audit(client: FlaskClient) -> list[dict[str, object]]:
    items: list[dict[str, object]] = client.get("/v1/triage/audit", headers=auth()).json["items"]
    return items


@pytest.mark.parametrize("data", [
    {"state": "ignored"},
    {"state": "ignored", "csrf_token": ""},
    {"state": "ignored", "csrf_token": "forged.token.value"},
])
def test_triage_without_a_valid_csrf_token_is_400_and_stores_nothing(
        analyst: FlaskClient, rdb: redis.Redis, data: dict[str, str]) -> None:
    before = snapshot(rdb)
    resp = analyst.post(ACTION, data=data)
    assert resp.status_code == 400 and resp.mimetype == "text/html"
    assert "expired or did not come from this dashboard" in resp.text
    assert snapshot(rdb) == before
    assert audit(analyst) == []


def test_a_token_from_another_session_is_refused(analyst: FlaskClient, fed: FlaskClient,
                                                 rdb: redis.Redis) -> None:
    other = fed.application.test_client()
    other_token = csrf_of(other.get("/").text)
    before = snapshot(rdb)
    assert analyst.post(ACTION, data={"state": "ignored", "csrf_token": other_token}) \
        .status_code == 400
    assert snapshot(rdb) == before


def test_triage_with_the_token_is_stored_audited_and_shown(analyst: FlaskClient) -> None:
    resp = analyst.post(ACTION, data={"state": "acknowledged", "note": "our debug proxy",
                                      "csrf_token": form_token(analyst),
                                      "back": f"/hosts/{HOST}?last=7d"})
    assert resp.status_code == 303 and resp.headers["Location"] == f"/hosts/{HOST}?last=7d"
    (entry,) = audit(analyst)
    assert (entry["state"], entry["by"], entry["note"], entry["fingerprint"]) == \
        ("acknowledged", "token-1", "our debug proxy", IOS_FP)
    page = analyst.get(resp.headers["Location"]).text
    assert 'role="status"' in page and "acknowledged." in page
    row = page[page.index(f'title="{IOS_FP}"'):]
    row = row[:row.index("</tr>")]
    assert "state-acknowledged" in row and "our debug proxy" in row and "by token-1" in row

    analyst.post(ACTION, data={"state": "ignored", "csrf_token": form_token(analyst)})
    page = analyst.get(f"/hosts/{HOST}").text
    ignored = page[page.index("Ignored chains"):]
    assert IOS_FP in ignored and "state-ignored" in ignored
    view = analyst.get(f"/v1/hosts/{HOST}", headers=auth()).json
    assert [c["fingerprint"] for c in view["ignored_chains"]] == [IOS_FP]
    analyst.post(ACTION, data={"state": "open", "csrf_token": form_token(analyst)})
    assert [e["state"] for e in audit(analyst)] == ["open", "ignored", "acknowledged"]


@pytest.mark.parametrize("data", [
    {"state": "deleted"}, {"state": ""}, {}, {"state": "ignored", "note": "x" * 501},
])
def test_bad_triage_form_is_400_and_stores_nothing(analyst: FlaskClient, rdb: redis.Redis,
                                                   data: dict[str, str]) -> None:
    token = form_token(analyst)
    before = snapshot(rdb)
    resp = analyst.post(ACTION, data={**data, "csrf_token": token})
    assert resp.status_code == 400 and resp.mimetype == "text/html"
    assert "deleted" not in resp.text
    assert {k: v for k, v in snapshot(rdb).items() if b":{s}:" not in k} == \
        {k: v for k, v in before.items() if b":{s}:" not in k}


@pytest.mark.parametrize("action", [
    f"/hosts/-bad-/chains/{IOS_FP}/triage", f"/hosts/{HOST}/chains/nothex/triage",
])
def test_triage_of_a_malformed_target_is_404(analyst: FlaskClient, action: str) -> None:
    resp = analyst.post(action, data={"state": "ignored", "csrf_token": form_token(analyst)})
    assert resp.status_code == 404
    assert audit(analyst) == []


def test_triage_never_redirects_off_site(analyst: FlaskClient) -> None:
    for back in ("https://evil.example/", "//evil.example", "/\\evil.example"):
        resp = analyst.post(f"/hosts/{HOST}/chains/{CHROME_FP}/triage",
                            data={"state": "acknowledged", "back": back,
                                  "csrf_token": form_token(analyst)})
        assert resp.status_code == 303 and resp.headers["Location"] == f"/hosts/{HOST}"


def test_triage_without_a_session_changes_nothing(fed: FlaskClient, rdb: redis.Redis) -> None:
    token = csrf_of(fed.get("/").text)  # a CSRF token, but nobody signed in
    before = snapshot(rdb)
    resp = fed.post(ACTION, data={"state": "ignored", "csrf_token": token})
    assert resp.status_code == 303 and re.match(r"/signin", resp.headers["Location"])
    assert snapshot(rdb) == before
