"""The OpenAPI document: generated, complete, served behind the token, and true.

"True" is checked twice: every real response of every read route validates strictly
(additionalProperties: false) against its schema, and a time-bounded schemathesis run
fuzzes every operation against the live app, asserting no 5xx and schema conformance.
"""

from __future__ import annotations

import collections
import json
import re
from collections.abc import Callable
from typing import Any

import jsonschema_rs
import pytest
import redis
import schemathesis
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode, checks

from collector.aggregates.keys import Keys
from collector.web import openapi
from tests.helpers import (
    CHROME_FP,
    CHROME_PINS,
    IOS_FP,
    TOKEN,
    auth,
    example_doc,
    flush,
    public_trust_ios,
    send,
    send_golden,
)

READS = {
    "/v1/summary": "Summary", "/v1/hosts": "HostPage", "/v1/hosts/api.example.com": "Host",
    "/v1/hosts/api.example.com/timeline?interval=hour": "Timeline",
    "/v1/hosts/api.example.com/timeline": "Timeline", "/v1/chains": "ChainPage",
    f"/v1/chains/{CHROME_FP}": "Chain", f"/v1/chains/{IOS_FP}": "Chain",
    "/v1/chains?classification=public-trust": "ChainPage",
    "/v1/chains?hostname=api.example.com&classification=unknown&limit=1": "ChainPage",
    "/v1/chains?since=2000-01-01T00:00:00Z&hostname=api.example.com": "ChainPage",
    f"/v1/chains/{CHROME_FP}?since=2000-01-01T00:00:00Z": "Chain",
    f"/v1/chains/{CHROME_FP}/timeline?interval=hour": "ChainTimeline",
    f"/v1/hosts/api.example.com/chains/{CHROME_FP}/timeline": "PairTimeline",
    f"/v1/hosts/www.datatheorem.com/chains/{CHROME_FP}/timeline": "Problem",
    "/v1/chains?classification=bogus": "Problem",
    "/v1/hosts/nothing.example": "Problem", "/healthz": "Health", "/readyz": "Ready",
    "/v1/hosts/api.example.com?since=2000-01-01T00:00:00Z": "Host",
    "/v1/hosts/api.example.com?until=2001-01-01T00:00:00Z": "Host",
    "/v1/summary?since=2000-01-01T00:00:00Z": "Summary",
    "/v1/alerts": "AlertPage", "/v1/triage/audit": "AuditPage",
    "/v1/alerts?cursor=bad": "Problem",
    "/v1/hosts/api.example.com/inventory": "Inventory",
    "/v1/hosts/api.example.com/inventory?since=2000-01-01T00:00:00Z": "Inventory",
    "/v1/hosts/nothing.example/inventory": "Problem",
}


def _flask_to_openapi(rule: str) -> str:
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule)


def test_document_covers_every_route(client: FlaskClient) -> None:
    doc = openapi.document()
    assert doc["openapi"].startswith("3.")
    assert doc["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}
    app = client.application
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.endpoint.startswith("dashboard."):
            continue  # static files and the dashboard's HTML pages are no JSON API
        path = _flask_to_openapi(rule.rule)
        assert path in doc["paths"], path
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            assert method.lower() in doc["paths"][path], (method, path)
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert op["responses"], (method, path)
            public = path == "/v1/reports" or not path.startswith("/v1/")
            assert op["security"] == ([] if public else [{"bearer": []}]), path
    body = doc["paths"]["/v1/reports"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"] == {"$ref": "#/components/schemas/Report"}
    report = doc["components"]["schemas"]["Report"]["properties"]
    assert {"hostname", "validated-certificate-chain", "known-pins"} <= set(report)
    text = json.dumps(doc)
    for ref in set(re.findall(r'"#/components/schemas/([A-Za-z]+)"', text)):
        assert ref in doc["components"]["schemas"], ref
    host_params = {p["name"] for p in doc["paths"]["/v1/hosts"]["get"]["parameters"]}
    assert host_params == {"since", "until", "limit", "cursor", "sort"}


def test_document_is_served_behind_the_token(client: FlaskClient) -> None:
    assert client.get("/v1/openapi.json").status_code == 401
    resp = client.get("/v1/openapi.json", headers=auth())
    assert resp.status_code == 200
    assert resp.json == json.loads(json.dumps(openapi.document()))


def _strict_json_schema(doc: dict[str, Any], name: str) -> dict[str, Any]:
    """OpenAPI 3.0 component -> draft 2020-12 schema (nullable becomes a null type)."""

    def convert(node: Any) -> Any:
        if isinstance(node, list):
            return [convert(n) for n in node]
        if not isinstance(node, dict):
            return node
        out = {k: convert(v) for k, v in node.items() if k != "nullable"}
        if "$ref" in out:
            out["$ref"] = out["$ref"].replace("#/components/schemas/", "#/$defs/")
        if node.get("nullable") and "type" in out:
            out["type"] = [out["type"], "null"]
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
        return out

    defs = convert(doc["components"]["schemas"])
    return {"$defs": defs, "$ref": f"#/$defs/{name}"}


def test_real_responses_match_their_schemas_strictly(pclient: FlaskClient) -> None:
    send_golden(pclient)
    send(pclient, public_trust_ios(), public_trust_ios(**{"enforce-pinning": True}))
    doc = openapi.document()
    for path, name in READS.items():
        resp = pclient.get(path, headers=auth())
        validator = jsonschema_rs.Draft202012Validator(_strict_json_schema(doc, name))
        errors = [str(e) for e in validator.iter_errors(resp.json)]
        assert not errors, (path, errors[:3])


def test_triage_and_alert_responses_match_their_schemas_strictly(
        pclient: FlaskClient, rdb: redis.Redis, keys: Keys) -> None:
    send_golden(pclient)
    alert = {"id": "a" * 32, "rule": "new-public-trust-chain", "hostname": "api.example.com",
             "fingerprint": CHROME_FP, "classification": "public-trust", "label": "R1",
             "reports": 1, "devices": 1, "first_seen": "2026-01-01T00:00:00Z",
             "fired_at": "2026-01-01T00:00:01Z", "url": "http://127.0.0.1:8000/hosts/x"}
    spike = {**alert, "id": "b" * 32, "rule": "spike", "fingerprint": None,
             "classification": None, "label": None}
    for doc in (alert, spike):
        rdb.xadd(keys.alerts.log, {"alert": json.dumps(doc)})
    doc = openapi.document()
    put = {"content_type": "application/json", "headers": auth()}
    answers = [
        (pclient.put(f"/v1/triage/pairs/api.example.com/{IOS_FP}",
                     data=json.dumps({"state": "ignored", "note": "rig"}), **put), "PairTriage"),
        (pclient.put(f"/v1/triage/issuers/{CHROME_PINS[2]}",
                     data=json.dumps({"state": "acknowledged"}), **put), "IssuerTriage"),
        (pclient.put(f"/v1/triage/issuers/{CHROME_PINS[2]}",
                     data=json.dumps({"state": "nope"}), **put), "Problem"),
        (pclient.put(f"/v1/triage/pairs/api.example.com/{IOS_FP}",
                     data="{", **put), "Problem"),
        (pclient.get("/v1/triage/audit", headers=auth()), "AuditPage"),
        (pclient.get("/v1/triage/audit?limit=1", headers=auth()), "AuditPage"),
        (pclient.get("/v1/alerts", headers=auth()), "AlertPage"),
        (pclient.get("/v1/alerts?limit=1", headers=auth()), "AlertPage"),
        (pclient.get("/v1/hosts/api.example.com", headers=auth()), "Host"),
        (pclient.get(f"/v1/chains/{IOS_FP}", headers=auth()), "Chain"),
        (pclient.get(f"/v1/chains/{CHROME_FP}", headers=auth()), "Chain"),
        (pclient.get("/v1/chains", headers=auth()), "ChainPage"),
        (pclient.get("/v1/chains?hostname=api.example.com", headers=auth()), "ChainPage"),
    ]
    assert len(answers[6][0].json["items"]) >= 2  # ours, and those the golden reports fired
    assert answers[8][0].json["ignored_chains"]
    for resp, name in answers:
        validator = jsonschema_rs.Draft202012Validator(_strict_json_schema(doc, name))
        errors = [str(e) for e in validator.iter_errors(resp.json)]
        assert not errors, (resp.request.path, errors[:3])


def test_rehearsal_responses_match_their_schemas_strictly(pclient: FlaskClient) -> None:
    """The rehearsal of the golden public-trust chain (with and without a window), a refusal,
    and a pins-expiring alert as ``GET /v1/alerts`` lists it."""
    send_golden(pclient)
    chain = "".join(example_doc("chromium-hpkp.json")["validated-certificate-chain"])
    doc = openapi.document()
    post = {"headers": {**auth(), "Content-Type": "application/x-pem-file"}}
    answers = [
        (pclient.post("/v1/hosts/api.example.com/rehearsal", data=chain, **post), "Rehearsal"),
        (pclient.post("/v1/hosts/api.example.com/rehearsal?since=2000-01-01T00:00:00Z",
                      data=chain, **post), "Rehearsal"),
        (pclient.post("/v1/hosts/api.example.com/rehearsal", data="nope", **post), "Problem"),
    ]
    assert answers[0][0].status_code == 200 and answers[2][0].status_code == 422
    alert = {"id": "c" * 32, "rule": "pins-expiring", "hostname": "api.example.com",
             "fingerprint": None, "classification": None, "label": "pin set expires soon",
             "reports": 3, "devices": 2, "first_seen": "2026-01-01T00:00:00Z",
             "fired_at": "2026-01-01T00:00:01Z", "url": "http://127.0.0.1:8000/hosts/x",
             "pin_set": {"pins": CHROME_PINS[:1], "expiration": "2026-01-20",
                         "days_to_expiry": 19, "app_versions": [
                             {"app_id": None, "app_version": None, "platform": None}]}}
    reads = pclient.application.extensions["collector"].reads
    reads.client.xadd(reads.keys.alerts.log, {"alert": json.dumps(alert)})
    listed = pclient.get("/v1/alerts", headers=auth())
    assert listed.json["items"][0]["pin_set"] == alert["pin_set"]
    answers.append((listed, "AlertPage"))
    for resp, name in answers:
        validator = jsonschema_rs.Draft202012Validator(_strict_json_schema(doc, name))
        errors = [str(e) for e in validator.iter_errors(resp.json)]
        assert not errors, (resp.request.path, errors[:3])


CHECKS = [checks.not_a_server_error, checks.response_schema_conformance,
          checks.content_type_conformance, checks.status_code_conformance]


@pytest.mark.timeout(240)
def test_schemathesis_finds_no_5xx_and_no_schema_violation(pclient: FlaskClient) -> None:
    send_golden(pclient)
    schema = schemathesis.openapi.from_dict(openapi.document())
    schema.app = pclient.application
    statuses: dict[str, collections.Counter[int]] = collections.defaultdict(collections.Counter)
    for result in schema.get_all_operations():
        op = result.ok()  # type: ignore[union-attr]
        is_post = op.method.upper() == "POST"
        modes = [GenerationMode.POSITIVE] if is_post else list(GenerationMode)
        for mode in modes:
            _fuzz(op.as_strategy(generation_mode=mode), mode, 10 if is_post else 20,
                  statuses[op.label], [checks.not_a_server_error] if is_post else CHECKS)
        known = {"hostname": "api.example.com", "fingerprint": CHROME_FP}
        fixed = {k: v for k, v in known.items() if "{" + k + "}" in op.path}
        if fixed:  # random path values are all 404s: fuzz the query of a real one too
            _fuzz(op.as_strategy(path_parameters=fixed), GenerationMode.POSITIVE, 20,
                  statuses[op.label], CHECKS)
        flush(pclient)
    for label, seen in statuses.items():
        assert not any(s >= 500 for s in seen), (label, seen)
        if label.startswith("GET"):
            assert seen[200], (label, seen)
    assert statuses["GET /v1/hosts"][200] > 0


def _fuzz(strategy: Any, mode: GenerationMode, examples: int, seen: collections.Counter[int],
          check_list: list[Callable[..., Any]]) -> None:
    @given(case=strategy)
    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    def run(case: Any) -> None:
        resp = case.call(headers={"Authorization": f"Bearer {TOKEN}"})
        seen[resp.status_code] += 1
        case.validate_response(resp, checks=check_list)

    try:
        run()
    except Unsatisfiable:
        assert mode is GenerationMode.NEGATIVE  # nothing to negate: no parameters
