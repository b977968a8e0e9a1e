"""The inventory and rehearsal routes through the app: reports posted as clients send them,
the verdicts read back, and hostile uploads refused with 4xx, nothing echoed, nothing stored."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from cryptography.hazmat.primitives import serialization
from flask.testing import FlaskClient

from collector.config import Settings
from collector.intake.chains import spki_pin
from tests.helpers import auth, snapshot, spool_files
from tests.intel.pki import pem
from tests.rotation import HOST, Rotation
from tests.web.field import field_client

ROUTE = f"/v1/hosts/{HOST}/rehearsal"
PEM = {"Content-Type": "application/x-pem-file"}


@pytest.fixture(scope="module")
def rot() -> Rotation:
    return Rotation()


@pytest.fixture
def field(settings: Settings, rot: Rotation) -> Iterator[FlaskClient]:
    """The app (trusting CA A's root) with the scenario's builds posted by their devices."""
    client = field_client(settings, rot, [(*b, "2027-06-01") for b in rot.builds()])
    yield client
    client.application.extensions["collector"].ingestor.close()


def rehearse(client: FlaskClient, body: bytes, query: str = "", **headers: str) \
        -> tuple[int, dict[str, Any], bytes]:
    resp = client.post(ROUTE + query, data=body, headers={**auth(), **PEM, **headers})
    return resp.status_code, resp.get_json(silent=True) or {}, resp.data


def test_inventory_route(field: FlaskClient, rot: Rotation) -> None:
    resp = field.get(f"/v1/hosts/{HOST}/inventory", headers=auth())
    assert resp.status_code == 200
    doc: Any = resp.json
    assert [(v["app_version"], v["platform"], v["devices"]) for v in doc["versions"]] == [
        ("3.0", "IOS", 12), ("2.0", "IOS", 8), ("1.0", "IOS", 5), ("3.0", "ANDROID", 4)]
    since: Any = field.get(f"/v1/hosts/{HOST}/inventory?since=2000-01-01T00:00:00Z",
                           headers=auth()).json
    assert since["versions"] == doc["versions"]
    until: Any = field.get(f"/v1/hosts/{HOST}/inventory?until=2001-01-01T00:00:00Z",
                           headers=auth()).json
    assert until["versions"] == []
    assert field.get(f"/v1/hosts/{HOST}/inventory?since=bogus", headers=auth()).status_code \
        == 400
    assert field.get(f"/v1/hosts/{HOST}/inventory").status_code == 401
    assert field.get("/v1/hosts/never.example.com/inventory", headers=auth()).status_code \
        == 404
    assert field.get("/v1/hosts/not a host/inventory", headers=auth()).status_code == 404


def test_rehearsals_through_the_api(field: FlaskClient, rot: Rotation) -> None:
    status, doc, _ = rehearse(field, rot.current)
    assert status == 200 and doc["would_fail"] is False
    status, doc, _ = rehearse(field, rot.other_ca, **{"Content-Type": "text/plain"})
    assert status == 200 and doc["would_fail"] is True
    assert {(v["app_version"], v["platform"]): v["accepts"] for v in doc["versions"]} == {
        ("1.0", "IOS"): False, ("2.0", "IOS"): False, ("3.0", "IOS"): True,
        ("3.0", "ANDROID"): False}
    assert doc["devices_that_would_fail"] == 17
    assert [p["pin"] for p in doc["pins_to_add"]] == [spki_pin(rot.leaf_b), spki_pin(rot.int_b)]
    status, doc, _ = rehearse(field, rot.same_ca,
                              **{"Content-Type": "application/pem-certificate-chain"})
    assert status == 200 and doc["devices_that_would_fail"] == 5
    status, doc, _ = rehearse(field, rot.other_ca, "?until=2001-01-01T00:00:00Z")
    assert status == 200 and doc["versions"] == [] and doc["would_fail"] is False
    assert field.post(ROUTE, data=rot.current, headers=PEM).status_code == 401
    assert field.post("/v1/hosts/never.example.com/rehearsal", data=rot.current,
                      headers={**auth(), **PEM}).status_code == 404
    assert field.get(ROUTE, headers=auth()).status_code == 405


def test_hostile_uploads_get_4xx_echo_nothing_and_store_nothing(
        field: FlaskClient, rdb: redis.Redis, settings: Settings, rot: Rotation) -> None:
    private = (rot.leaf_b.public_bytes(serialization.Encoding.PEM) + b"-----BEGIN PRIVATE KEY"
               b"-----\nTUFSS0VSLXNlY3JldC1rZXktYnl0ZXM=\n-----END PRIVATE KEY-----\n")
    leaf = pem(rot.leaf_a1)
    marker = b"MARKER-upload-text"
    cases = [
        (b'{"not": "pem"}', 422, {}),
        (marker + b" plain words", 422, {}),
        (leaf * 11, 422, {}),
        (b"", 422, {}),
        (private, 422, {}),
        (leaf + marker, 422, {}),
        (leaf.replace(b"\n", b"\n" + marker, 1), 422, {}),
        (marker * (1024 * 1024 // len(marker)), 413, {}),
        (leaf, 415, {"Content-Type": "application/json"}),
        (leaf, 415, {"Content-Type": "multipart/form-data; boundary=x"}),
        (leaf, 415, {"Content-Type": "application/x-www-form-urlencoded"}),
        (leaf, 415, {"Content-Encoding": "gzip"}),
    ]
    before, spooled = snapshot(rdb), spool_files(settings)
    for body, status, headers in cases:
        code, doc, raw = rehearse(field, body, **headers)
        assert code == status, (body[:40], code, doc)
        assert doc["status"] == status and len(raw) <= 1024
        assert marker not in raw and b"TUFSS0VS" not in raw and b"MII" not in raw
    chunked = field.post(ROUTE, input_stream=io.BytesIO(marker * 70_000),
                         headers={**auth(), **PEM, "Transfer-Encoding": "chunked"},
                         environ_overrides={"wsgi.input_terminated": True})
    assert chunked.status_code == 413 and marker not in chunked.data
    status, doc, _ = rehearse(field, private)
    assert "private key" in json.dumps(doc["errors"])
    assert snapshot(rdb) == before and spool_files(settings) == spooled
