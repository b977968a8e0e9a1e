"""The lean report route (web/report_route.py): POST /v1/reports answered in front of Flask,
with the same answers, metrics and log line, and nothing of Flask's per-request work."""

from __future__ import annotations

import json
import logging

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from collector.web import accesslog
from tests.helpers import example, post, snapshot


def test_reports_skip_flask_hooks(app: Flask, client: FlaskClient) -> None:
    """A hook that would refuse every request never sees a report: the route runs before
    Flask's request handling (no context, session, CSRF or header hooks on the hot path)."""

    @app.before_request
    def _refuse() -> None:
        raise RuntimeError("a report went through Flask")

    resp = post(client, example("trustkit-ios.json"))
    assert resp.status_code == 204
    assert resp.data == b""
    assert "Content-Type" not in resp.headers and "Set-Cookie" not in resp.headers
    # every other request still goes through Flask, its hooks included
    assert client.get("/v1/summary").status_code == 500


def test_other_methods_and_paths_go_to_flask(client: FlaskClient) -> None:
    resp = client.get("/v1/reports")
    assert resp.status_code == 405 and resp.headers["Allow"] == "POST"
    assert resp.mimetype == "application/problem+json"
    assert client.post("/v1/reports/", data=b"{}", content_type="application/json") \
        .status_code == 404


def test_an_unexpected_error_is_a_fixed_500_and_nothing_stored(
        app: Flask, client: FlaskClient, rdb: redis.Redis, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    svc = app.extensions["collector"]

    def _boom(report: object) -> object:
        raise ValueError("<script>secret</script>")

    before = snapshot(rdb)
    monkeypatch.setattr(svc, "classify", _boom)
    with caplog.at_level(logging.ERROR, logger="collector"):
        resp = post(client, example("trustkit-ios.json"))
    assert resp.status_code == 500
    assert resp.mimetype == "application/problem+json"
    assert resp.json["type"].endswith("/internal-error")
    assert b"secret" not in resp.data and b"script" not in resp.data
    assert int(resp.headers["Content-Length"]) == len(resp.data)
    assert any("unexpected error" in r.getMessage() for r in caplog.records)
    svc.ingestor.settle()
    assert snapshot(rdb) == before


def test_the_access_log_line_matches_the_flask_routes(
        client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    lines: list[str] = []
    monkeypatch.setattr(accesslog, "_emit", lines.append)
    assert post(client, example("trustkit-ios.json")).status_code == 204
    assert post(client, b"{nope").status_code == 400
    ok, bad = (json.loads(text) for text in lines)
    assert ok["route"] == "/v1/reports" and ok["endpoint"] == "api.post_report"
    assert ok["status"] == 204 and "reason" not in ok
    assert bad["status"] == 400 and bad["reason"] == "malformed-json"
    assert set(ok) == {"event", "method", "route", "endpoint", "status", "duration_ms"}
