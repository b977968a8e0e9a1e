"""Hostile inputs H01-H42 (reliability.md §8.2) against POST /v1/reports, SPEC §3 statuses.

Every rejection must be application/problem+json with the fixed members, at most 1 KiB,
echo nothing of the input (marker strings planted in hostile values and keys never come
back), and leave nothing behind: the Redis snapshot and the spool are unchanged. H03, H04
and H45 need a real gunicorn and are covered by the end-to-end suite.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import gzip
import io
import json
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
import redis
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from flask import Flask
from flask.testing import FlaskClient

from collector import create_app
from collector.aggregates.keys import Keys
from collector.config import Settings
from collector.intake import formats, schemas
from collector.intake.chains import der_to_pem, pem_to_der
from tests.helpers import example, example_doc, redis_text, snapshot, spool_files

MARK = "ZQXMARK"  # planted in hostile values and keys; must never come back
CAP = 256 * 1024
FIELDS = {f.data_key or name for name, f in schemas.TRUSTKIT.fields.items()} | {
    "_schema", "expect-ct-report"}
PROBLEM_KEYS = {"type", "title", "status", "detail"}


def ios() -> dict[str, Any]:
    return example_doc("trustkit-ios.json")


def android() -> dict[str, Any]:
    return example_doc("trustkit-android.json")


def dotnet() -> dict[str, Any]:
    """The .NET / Go subset: no TrustKit keys, so the "other HPKP-like" tolerance applies."""
    doc = example_doc("chromium-hpkp.json")
    return {k: doc[k] for k in ("date-time", "hostname", "port", "validated-certificate-chain",
                                "known-pins")}


def with_(doc: dict[str, Any], **changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    for key, value in changes.items():
        out[key.replace("_", "-")] = value
    return out


def without(doc: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k not in keys}


def leaf_pem() -> str:
    pems: list[str] = ios()["validated-certificate-chain"]
    return pems[0]


class CountingStream(io.BytesIO):
    """A wsgi.input that tells how far the app read it (it never seeks back)."""

    @property
    def consumed(self) -> int:
        return self.tell()


@dataclasses.dataclass
class Guard:
    """Posts a body and checks the rejection contract around it."""

    app: Flask
    rdb: redis.Redis
    settings: Settings

    @property
    def client(self) -> FlaskClient:
        return self.app.test_client()

    def flush(self) -> None:
        """Accepted reports reach Redis from the spool in the background: wait for them."""
        assert self.app.extensions["collector"].ingestor.flush(5.0)

    def state(self) -> tuple[dict[bytes, bytes | None], list[tuple[str, int]]]:
        self.flush()
        return snapshot(self.rdb), spool_files(self.settings)

    def send(self, body: bytes | str | dict[str, Any], *, content_type: str | None,
             headers: dict[str, str] | None = None, **kw: Any) -> Any:
        data = json.dumps(body) if isinstance(body, dict) else body
        hdrs = dict(headers or {})
        if content_type is not None:
            hdrs["Content-Type"] = content_type
        return self.client.post("/v1/reports", data=data, headers=hdrs, **kw)

    def reject(self, body: bytes | str | dict[str, Any], status: int, *,
               content_type: str | None = "application/json",
               markers: tuple[str, ...] = (MARK,), **kw: Any) -> dict[str, Any]:
        before, spooled = self.state()
        resp = self.send(body, content_type=content_type, **kw)
        return self.check(resp, status, before, spooled, markers)

    def check(self, resp: Any, status: int, before: dict[bytes, bytes | None],
              spooled: list[tuple[str, int]], markers: tuple[str, ...] = (MARK,)) \
            -> dict[str, Any]:
        raw: bytes = resp.get_data()
        assert resp.status_code == status, raw[:300]
        assert resp.mimetype == "application/problem+json"
        assert len(raw) <= 1024
        doc: dict[str, Any] = json.loads(raw)
        assert PROBLEM_KEYS <= set(doc) <= PROBLEM_KEYS | {"errors"}
        assert doc["status"] == status
        assert all(isinstance(doc[k], str) for k in ("type", "title", "detail"))
        if status == 422:
            assert doc["errors"], doc
            assert set(doc["errors"]) <= FIELDS, doc["errors"]
        for marker in markers:
            assert marker.lower().encode() not in raw.lower()
        assert "Access-Control-Allow-Origin" not in resp.headers
        assert self.state() == (before, spooled)
        return doc

    def accept(self, body: bytes | str | dict[str, Any], *,
               content_type: str = "application/json", **kw: Any) -> None:
        resp = self.send(body, content_type=content_type, **kw)
        assert resp.status_code == 204, resp.get_data()[:300]


def _prime(settings: Settings, rdb: redis.Redis) -> None:
    """Store one report through another worker (own spool), so "nothing stored" is
    checked against real data while the collector under test keeps an idle spool."""
    other = dataclasses.replace(settings, data_dir=settings.data_dir + "-prime")
    application = create_app(other)
    try:
        resp = application.test_client().post("/v1/reports", data=example("trustkit-ios.json"),
                                              content_type="application/json")
        assert resp.status_code == 204
    finally:
        application.extensions["collector"].ingestor.close()
    assert rdb.dbsize() > 0


@pytest.fixture
def guard(app: Flask, rdb: redis.Redis, settings: Settings) -> Guard:
    _prime(settings, rdb)
    return Guard(app, rdb, settings)


@pytest.fixture
def listed(settings: Settings, rdb: redis.Redis) -> Iterator[Guard]:
    """A collector with COLLECTOR_ALLOWED_HOSTS=example.com,xn--bcher-kva.de."""
    limited = dataclasses.replace(settings, allowed_hosts=("example.com", "xn--bcher-kva.de"))
    application: Flask = create_app(limited)
    _prime(settings, rdb)
    yield Guard(application, rdb, limited)
    application.extensions["collector"].ingestor.close()


# --- H01-H09: framing, size, media type, method -------------------------------------------


def test_h01_content_length_over_cap_is_refused_before_reading(guard: Guard) -> None:
    body = json.dumps(with_(ios(), pad=MARK * (310_000 // len(MARK)))).encode()
    assert len(body) > CAP
    stream = CountingStream(body)
    before, spooled = guard.state()
    resp = guard.client.post("/v1/reports", input_stream=stream, content_length=len(body),
                             content_type="application/json")
    guard.check(resp, 413, before, spooled)
    assert stream.consumed == 0


def test_h02_chunked_body_over_cap_is_413_after_reading_at_most_cap_plus_one(
        guard: Guard) -> None:
    body = b'{"pad":"' + MARK.encode() * (5 * 1024 * 1024 // len(MARK)) + b'"}'
    stream = CountingStream(body)
    before, spooled = guard.state()
    resp = guard.client.post("/v1/reports", input_stream=stream,
                             headers={"Content-Type": "application/json",
                                      "Transfer-Encoding": "chunked"},
                             environ_overrides={"wsgi.input_terminated": True})
    guard.check(resp, 413, before, spooled)
    assert stream.consumed <= CAP + 1


@pytest.mark.parametrize("extra", [0, 1])
def test_h02_chunked_cap_boundary(guard: Guard, extra: int) -> None:
    """Exactly the cap is read and parsed; one byte more is 413, never a truncated parse."""
    doc = with_(ios(), pad="")
    size = len(json.dumps(doc).encode())
    body = json.dumps(with_(ios(), pad="p" * (CAP - size + extra))).encode()
    assert len(body) == CAP + extra
    before, spooled = guard.state()
    resp = guard.client.post("/v1/reports", input_stream=io.BytesIO(body),
                             headers={"Content-Type": "application/json",
                                      "Transfer-Encoding": "chunked"},
                             environ_overrides={"wsgi.input_terminated": True})
    if extra:
        guard.check(resp, 413, before, spooled)
    else:
        assert resp.status_code == 204


def test_h05_empty_body_is_400(guard: Guard) -> None:
    guard.reject(b"", 400)
    before, spooled = guard.state()
    resp = guard.client.post("/v1/reports", input_stream=io.BytesIO(b""),
                             headers={"Content-Type": "application/json",
                                      "Transfer-Encoding": "chunked"},
                             environ_overrides={"wsgi.input_terminated": True})
    guard.check(resp, 400, before, spooled)


@pytest.mark.parametrize("ctype", [
    "text/plain", "text/plain; charset=utf-8", None, "", "application/reports+json",
    "application/csp-report", "application/jsonx", "application/problem+json",
    "application/x-www-form-urlencoded",  # H07
    "multipart/form-data; boundary=ZQXMARK",  # H07
])
def test_h06_h07_other_content_types_are_415(guard: Guard, ctype: str | None) -> None:
    guard.reject(json.dumps(with_(ios(), x=MARK)), 415, content_type=ctype)


@pytest.mark.parametrize("ctype", [
    "application/json", "APPLICATION/JSON", "application/json; charset=utf-8",
    "application/expect-ct-report+json; charset=utf-8",
])
def test_accepted_content_types(guard: Guard, ctype: str) -> None:
    guard.accept(example("trustkit-ios.json"), content_type=ctype)


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", "x-gzip", "gzip, identity"])
def test_h08_content_encoding_is_415_and_never_decompressed(guard: Guard,
                                                           encoding: str) -> None:
    bomb = gzip.compress(b"\0" * (1024 * 1024))
    guard.reject(bomb, 415, headers={"Content-Encoding": encoding})


def test_h08_identity_encoding_is_fine(guard: Guard) -> None:
    guard.accept(example("trustkit-ios.json"), headers={"Content-Encoding": "identity"})


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_h09_other_methods_are_405_without_cors(guard: Guard, method: str) -> None:
    before, spooled = guard.state()
    resp = guard.client.open("/v1/reports", method=method, data=example("trustkit-ios.json"),
                             headers={"Origin": "https://evil.example",
                                      "Access-Control-Request-Method": "POST",
                                      "Content-Type": "application/json"})
    guard.check(resp, 405, before, spooled)
    assert "POST" in resp.headers["Allow"]
    assert not any(k.lower().startswith("access-control-") for k, _ in resp.headers.items())


# --- H10-H20: JSON syntax, nesting, numbers, encoding -------------------------------------


def test_h10_truncated_json_is_400(guard: Guard) -> None:
    guard.reject('{"hostname": "ZQXMARK.com",', 400)


def test_h11_bracket_bomb_is_400(guard: Guard) -> None:
    guard.reject("[" * 100_000, 400)


def test_h11_object_bomb_is_400(guard: Guard) -> None:
    guard.reject('{"a":' * 50_000, 400)


def test_h12_deep_nesting_inside_a_field_is_400(guard: Guard) -> None:
    body = json.dumps(ios()).replace('"api.example.com"', "[" * 40 + '"ZQXMARK"' + "]" * 40)
    guard.reject(body, 400)


@pytest.mark.parametrize("body", ["[]", '"ZQXMARK"', "1", "null", "true", '[{"a":1}]'])
def test_h13_top_level_not_an_object_is_422(guard: Guard, body: str) -> None:
    guard.reject(body, 422)


@pytest.mark.parametrize("body", [
    '{"hostname":"a.example.com","hostname":"ZQXMARK.example.com"}',
    '{"expect-ct-report":{"port":443,"port":444}}',
])
def test_h14_duplicate_keys_are_400(guard: Guard, body: str) -> None:
    guard.reject(body, 400)


def test_h14_duplicate_key_in_a_full_report_is_400(guard: Guard) -> None:
    body = json.dumps(ios())[:-1] + ',"hostname":"ZQXMARK.example.com"}'
    guard.reject(body, 400)


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_h15_non_finite_numbers_are_400(guard: Guard, constant: str) -> None:
    body = json.dumps(ios()).replace('"port": 0', f'"port": {constant}')
    assert constant in body
    guard.reject(body, 400)


def test_h16_huge_integer_literal_is_400(guard: Guard) -> None:
    body = json.dumps(ios()).replace('"port": 0', '"port": 1' + "0" * 5000)
    started = time.perf_counter()
    guard.reject(body, 400)
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize("port", [10**30, 10**4000])
def test_h16_out_of_range_integers_are_422(guard: Guard, port: int) -> None:
    doc = guard.reject(with_(ios(), port=port), 422)
    assert set(doc["errors"]) == {"port"}


@pytest.mark.parametrize("port", ["443", 443.5, True, -1, 65536, None, "0", [443], {"p": 1}])
def test_h17_trustkit_port_must_be_a_json_integer_in_range(guard: Guard, port: Any) -> None:
    doc = guard.reject(with_(ios(), port=port), 422)
    assert set(doc["errors"]) == {"port"}
    guard.reject(with_(android(), port=port), 422)


@pytest.mark.parametrize("port", [443.5, True, -1, 65536, "-1", "65536", "4 43", "0x1bb", "٤٤٣"])
def test_h17_hpkp_like_port_is_tolerant_only_of_numeric_strings(guard: Guard,
                                                               port: Any) -> None:
    guard.reject(with_(dotnet(), port=port), 422)


@pytest.mark.parametrize("port", [0, 443, 65535])
def test_h17_port_zero_and_range_ends_are_valid(guard: Guard, port: int) -> None:
    guard.accept(with_(ios(), port=port))


def test_h17_hpkp_like_numeric_string_port_is_accepted(guard: Guard) -> None:
    guard.accept(with_(dotnet(), port="443"))


def test_h18_invalid_utf8_is_400(guard: Guard) -> None:
    body = json.dumps(ios()).encode().replace(b"com.example.app", b"ZQXMARK\xff\xfe", 1)
    guard.reject(body, 400)


@pytest.mark.parametrize("field", ["hostname", "noted-hostname", "app-version", "app-vendor-id",
                                   "date-time", "app-bundle-id", "known-pins-expiration-date",
                                   "trustkit-version", "app-platform-version"])
@pytest.mark.parametrize("bad", ["\ud800", "\udfff", "ZQXMARK\udc80", "\ud800ZQXMARK"])
def test_h19_lone_surrogates_are_422(guard: Guard, field: str, bad: str) -> None:
    doc = guard.reject(with_(ios(), **{field.replace("-", "_"): bad}), 422)
    assert field in doc["errors"]


@pytest.mark.parametrize("where", ["validated-certificate-chain", "known-pins"])
def test_h19_lone_surrogate_inside_a_list_is_422(guard: Guard, where: str) -> None:
    doc = ios()
    doc[where] = [*doc[where][:1], doc[where][0][:40] + "\ud800ZQXMARK" + doc[where][0][40:]]
    guard.reject(doc, 422)


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-8-sig"])
def test_h20_non_utf8_encodings_and_boms_are_400(guard: Guard, codec: str) -> None:
    guard.reject(json.dumps(with_(ios(), x=MARK)).encode(codec), 400)


# --- H21-H27: hostnames --------------------------------------------------------------------


@pytest.mark.parametrize("bad", [
    'a.example.com\r\n{"level":"INFO","msg":"ZQXMARK"}', "a.example.com\x1b[2JZQXMARK",
    "a.example.com\x00ZQXMARK", "a.example.com\x7fZQXMARK", "a.example.com\x85ZQXMARK",
    "a.example.com\tZQXMARK", "a.example.com\nZQXMARK",
])
@pytest.mark.parametrize("field", ["hostname", "noted-hostname", "app-version",
                                   "app-bundle-id", "app-platform-version", "date-time"])
def test_h21_control_characters_are_422(guard: Guard, bad: str, field: str) -> None:
    doc = guard.reject(with_(ios(), **{field.replace("-", "_"): bad}), 422)
    assert field in doc["errors"]


@pytest.mark.parametrize("bad", [
    "\u0430pi.example.com", "api\u202e.example.com", "api\u200b.example.com",
    "API.EXAMPLE.\u0441om", "api.example.com\u3002", "\uff41pi.example.com",
    "b\u00fccher.example.com\u2028", " b\u00fccher.example.com", "xn--pi-6kc.example.com",
])
@pytest.mark.parametrize("field", ["hostname", "noted-hostname"])
def test_h22_homographs_and_non_canonical_u_labels_are_422(guard: Guard, bad: str,
                                                           field: str) -> None:
    """SPEC §3 takes U-labels, but only in canonical form (nothing IDNA's mapping would drop
    or fold but case: zero-width, full-width, U+3002) and without mixed-script labels (in
    either form: the A-label of "\u0430pi" is refused too)."""
    for ensure_ascii in (True, False):  # escaped and raw UTF-8 alike
        body = json.dumps(with_(ios(), **{field.replace("-", "_"): bad}),
                          ensure_ascii=ensure_ascii).encode()
        doc = guard.reject(body, 422, markers=(bad,))
        assert field in doc["errors"]


@pytest.mark.parametrize("ensure_ascii", [True, False])
def test_h22_u_label_is_counted_under_its_a_label(guard: Guard, ensure_ascii: bool) -> None:
    body = json.dumps(with_(ios(), hostname="B\u00fccher.example",
                            noted_hostname="b\u00fccher.example."), ensure_ascii=ensure_ascii)
    guard.accept(body)
    guard.flush()
    hosts = [h for shard in Keys(guard.settings.key_prefix).glob.shards
             for h in guard.rdb.zrange(shard.hosts, 0, -1)]
    assert b"xn--bcher-kva.example" in hosts
    assert "b\u00fccher".encode() not in redis_text(guard.rdb)


def test_h22_u_label_is_matched_against_the_allow_list(listed: Guard) -> None:
    listed.accept(with_(ios(), hostname="api.b\u00fccher.de", noted_hostname="B\u00fccher.de"))
    outside = "b\u00fccher.example"
    listed.reject(with_(ios(), hostname=outside, noted_hostname=outside), 422)


def test_h22_a_label_is_accepted_when_allow_listed(listed: Guard) -> None:
    listed.accept(with_(ios(), hostname="XN--BCHER-KVA.de.", noted_hostname="xn--bcher-kva.de"))
    listed.flush()
    hosts = [h for shard in Keys(listed.settings.key_prefix).glob.shards
             for h in listed.rdb.zrange(shard.hosts, 0, -1)]
    assert b"xn--bcher-kva.de" in hosts


def _long_host(length: int) -> str:
    """Valid labels under example.com, ``length`` characters in all (length > 204)."""
    return ("a" * 63 + ".") * 3 + "b" * (length - 204) + ".example.com"


def _markers(bad: str) -> tuple[str, ...]:
    return (MARK, bad) if len(bad) > 3 else (MARK,)


@pytest.mark.parametrize("bad", [
    _long_host(254), "x" * 64 + ".example.com", "a..example.com", "-a.example.com",
    "a-.example.com", ".example.com", "", ".", "example.com..", "xn--zz.example.com",
    "xn--.example.com", "a_b.example.com", "fe80::1%ZQXMARK", "ZQXMARK-\u2028.example.com",
])
def test_h23_malformed_hostnames_are_422(guard: Guard, bad: str) -> None:
    doc = guard.reject(with_(ios(), hostname=bad), 422, markers=_markers(bad))
    assert "hostname" in doc["errors"]


def test_h23_longest_hostname_is_accepted(guard: Guard) -> None:
    host = _long_host(253)
    assert len(host) == 253
    guard.accept(with_(ios(), hostname=host))
    guard.accept(with_(ios(), hostname=host.upper() + ".", noted_hostname="EXAMPLE.com."))


@pytest.mark.parametrize("bad", [
    "{ZQXMARK}.example.com", "a.example.com:chains", "*", "*.example.com", "a?.example.com",
    "a b.example.com", "a.example.com/ZQXMARK", "pc:{g}:hosts", "[a-z].example.com",
])
def test_h24_key_syntax_in_hostnames_is_422(guard: Guard, bad: str) -> None:
    doc = guard.reject(with_(ios(), hostname=bad), 422, markers=_markers(bad))
    assert "hostname" in doc["errors"]


@pytest.mark.parametrize(("host", "noted"), [
    ("evil.example", "bank.example"), ("notexample.com", "example.com"),
    ("example.com", "api.example.com"), ("example.com.evil.example", "example.com"),
])
def test_h25_hostname_outside_noted_hostname_is_422(guard: Guard, host: str, noted: str) -> None:
    doc = guard.reject(with_(ios(), hostname=host, noted_hostname=noted,
                             include_subdomains=True), 422)
    assert set(doc["errors"]) == {"hostname"}


def test_h26_subdomain_without_include_subdomains_is_accepted_and_flagged(guard: Guard) -> None:
    doc = with_(ios(), include_subdomains=False)
    guard.accept(doc)
    guard.accept(example("chromium-hpkp.json"))  # the golden example has exactly this shape
    report = formats.build(doc, received_ms=0, secret=b"k", client_addr=None)
    assert "subdomain-not-included" in report.flags


@pytest.mark.parametrize("changes", [
    {"noted_hostname": "example.org", "hostname": "api.example.org"},
    {"noted_hostname": "notexample.com", "hostname": "notexample.com"},
    {"noted_hostname": "com", "hostname": "api.example.com"},
    {"noted_hostname": None, "hostname": "evil.example"},
])
def test_h27_host_outside_the_allow_list_is_422(listed: Guard, changes: dict[str, Any]) -> None:
    doc = listed.reject(with_(ios(), **changes), 422)
    assert set(doc["errors"]) <= {"hostname", "noted-hostname"}


def test_h27_allow_listed_hosts_are_accepted(listed: Guard) -> None:
    for name in ("trustkit-android.json", "chromium-hpkp.json", "expect-ct.json"):
        listed.accept(example(name))
    listed.accept(with_(ios(), noted_hostname="API.Example.com", hostname="api.example.com"))


def test_h27_expect_ct_without_noted_hostname_is_checked_by_hostname(listed: Guard) -> None:
    doc = example_doc("expect-ct.json")
    doc["expect-ct-report"]["hostname"] = "www.example.org"
    listed.reject(doc, 422)


# --- H28-H30: dates and pins ----------------------------------------------------------------


@pytest.mark.parametrize(("raw", "flag"), [
    ("2015-13-45T99:00:00Z", "client-time-unparsed"), ("yesterday", "client-time-unparsed"),
    ("", "client-time-unparsed"), ("2015-06-08 01:58:05", "client-time-no-zone"),
    ("2015-06-08", "client-time-no-zone"), (None, "no-client-time"),
    ("9999-12-31T23:59:59Z", "client-time-out-of-range"),
    ("0001-01-01T00:00:00Z", "client-time-out-of-range"),
    ("0001-01-01T00:00:00+14:00", "client-time-out-of-range"),
    ("9999-12-31T23:59:59-23:59", "client-time-out-of-range"),
    ("2016-11-06T2\u5348\u524d2:52:28Z", "client-time-unparsed"),
])
def test_h28_h29_bad_client_times_are_accepted_raw_and_flagged(guard: Guard, raw: str | None,
                                                               flag: str) -> None:
    """SPEC §3: client time is parsed best-effort and kept raw when unparseable (not 422)."""
    doc = with_(ios(), date_time=raw)
    guard.accept(doc)
    report = formats.build(doc, received_ms=0, secret=b"k", client_addr=None)
    assert flag in report.flags
    assert report.client_time_raw == raw
    assert report.client_time is None or report.client_time.endswith("Z")


def test_h29_epoch_is_accepted(guard: Guard) -> None:
    doc = with_(ios(), date_time="1970-01-01T00:00:00Z")
    guard.accept(doc)
    report = formats.build(doc, received_ms=0, secret=b"k", client_addr=None)
    assert report.client_time == "1970-01-01T00:00:00Z"


@pytest.mark.parametrize("raw", [12345, ["2015-06-08T01:58:05Z"], True, "2" * 65])
def test_h28_client_time_of_the_wrong_type_or_size_is_422(guard: Guard, raw: Any) -> None:
    doc = guard.reject(with_(ios(), date_time=raw), 422)
    assert set(doc["errors"]) == {"date-time"}


PIN = 'pin-sha256="8qXYWMcpe2SSvVu68+ZWLRqHqlRCNtQfnX5h1xf7InY="'


@pytest.mark.parametrize("pins", [
    ['pin-sha256="not base64 ZQXMARK"'],
    ['pin-sha1="8qXYWMcpe2SSvVu68+ZWLRqHqlRC"'],
    ['pin-sha256="ZQXMARK"'],  # decodes, but not to 32 bytes
    ['pin-sha256="' + base64.b64encode(b"ZQXMARK" * 8).decode() + '"'],
    [PIN] * 33,
    ["ZQXMARK" * (200 * 1024 // 7)],
    [PIN + " ZQXMARK"],
    [42], [None], "ZQXMARK", {"pin": PIN},
    ["-_" + "A" * 41 + "="],  # URL-safe alphabet
])
def test_h30_bad_known_pins_are_422(guard: Guard, pins: Any) -> None:
    doc = guard.reject(with_(ios(), known_pins=pins), 422)
    assert set(doc["errors"]) == {"known-pins"}


def test_h30_single_quoted_rfc_example_pin_is_400(guard: Guard) -> None:
    body = json.dumps(ios())[:-1] + ', "known-pins": [\'pin-sha256="ZQXMARK"\']}'
    guard.reject(body, 400)


# --- H31-H39: certificate chains --------------------------------------------------------------


def test_h31_too_many_certificates_are_422(guard: Guard) -> None:
    doc = guard.reject(with_(ios(), validated_certificate_chain=[leaf_pem()] * 11), 422)
    assert set(doc["errors"]) == {"validated-certificate-chain"}
    doc = guard.reject(with_(android(), served_certificate_chain=[leaf_pem()] * 21), 422)
    assert set(doc["errors"]) == {"served-certificate-chain"}


@pytest.mark.parametrize("chain", [[], None, "missing", [1, 2], [None], "ZQXMARK", {"a": 1},
                                   [[leaf_pem()]]])
def test_h32_missing_or_mistyped_chain_is_422(guard: Guard, chain: Any) -> None:
    for base in (ios(), android(), dotnet()):
        doc = without(base, "validated-certificate-chain", "served-certificate-chain")
        if chain != "missing":
            doc["validated-certificate-chain"] = chain
            if "served-certificate-chain" in base:
                doc["served-certificate-chain"] = chain
        guard.reject(doc, 422)


def test_h33_oversized_pem_is_422(guard: Guard) -> None:
    junk = base64.b64encode(MARK.encode() * (150 * 1024 // 7)).decode()
    pem = "-----BEGIN CERTIFICATE-----\n" + junk + "\n-----END CERTIFICATE-----\n"
    assert len(pem) > 200 * 1024
    guard.reject(with_(ios(), validated_certificate_chain=[pem]), 422, markers=(junk[:40],))


@pytest.mark.parametrize("make", [
    lambda p: p + "\n" + p,
    lambda p: p + p,
    lambda p: p + "\nXYZZQXMARK",
    lambda p: "ZQXMARK\n" + p,
    lambda p: p.replace("-----END CERTIFICATE-----", "ZQXMARK\n-----END CERTIFICATE-----"),
    lambda p: p.replace("-----END CERTIFICATE-----", "-----END CERTIFICATE-----ZQXMARK"),
    lambda p: p.replace("-----BEGIN CERTIFICATE-----", "-----BEGIN CERTIFICATE-----ZQXMARK"),
    lambda p: der_to_pem(pem_to_der(p) + b"ZQXMARK"),  # trailing bytes inside the DER
    lambda p: der_to_pem(pem_to_der(p)[:-10]),  # truncated DER
])
def test_h34_anything_but_exactly_one_certificate_is_422(guard: Guard, make: Any) -> None:
    pem = make(leaf_pem())
    doc = guard.reject(with_(ios(), validated_certificate_chain=[pem]), 422)
    assert set(doc["errors"]) == {"validated-certificate-chain"}
    # the served chain is checked too, even when the validated one is the offending chain
    doc = guard.reject(with_(android(), served_certificate_chain=[pem]), 422)
    assert set(doc["errors"]) == {"served-certificate-chain"}


def _private_keys() -> list[str]:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return [
        key.private_bytes(serialization.Encoding.PEM, fmt,
                          serialization.NoEncryption()).decode()
        for key, fmt in ((ec_key, serialization.PrivateFormat.PKCS8),  # PRIVATE KEY
                         (ec_key, serialization.PrivateFormat.TraditionalOpenSSL),  # EC ...
                         (rsa_key, serialization.PrivateFormat.TraditionalOpenSSL))  # RSA ...
    ]


@pytest.mark.parametrize("position", ["alone", "after-cert", "label-swap"])
def test_h35_private_keys_are_422_and_never_echoed(guard: Guard, position: str) -> None:
    for key_pem in _private_keys():
        body_lines = key_pem.strip().splitlines()[1:-1]
        if position == "alone":
            pem = key_pem
        elif position == "after-cert":
            pem = leaf_pem() + "\n" + key_pem
        else:  # key material under a certificate label
            pem = "-----BEGIN CERTIFICATE-----\n" + "\n".join(body_lines) + \
                "\n-----END CERTIFICATE-----"
        markers = ("PRIVATE", *(line[:24] for line in body_lines))
        for base in (ios(), dotnet()):
            guard.reject(with_(base, validated_certificate_chain=[pem]), 422, markers=markers)


def _poke(pem: str, text: str) -> str:
    """Put ``text`` in place of one base64 character in the middle of the first line."""
    return pem[:40] + text + pem[41:]


@pytest.mark.parametrize("make", [
    lambda p: _poke(p, "!"),
    lambda p: _poke(p, "\u0415"),
    lambda p: _poke(p, "\U0001f600"),
    lambda p: _poke(p, "\u00a0"),
    lambda p: "".join(p.splitlines()[1:-1]),  # missing armour
    lambda p: "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----",
    lambda p: "-----BEGIN CERTIFICATE-----\n\r\n  \n-----END CERTIFICATE-----",
    lambda p: "-----BEGIN CERTIFICATE-----\nZQXMARK=\n-----END CERTIFICATE-----",
    lambda p: p.replace("CERTIFICATE", "X509 CRL"),
    lambda p: p.replace("CERTIFICATE", "TRUSTED CERTIFICATE"),
    lambda p: _poke(p, "===="),
    lambda p: "",
])
def test_h36_malformed_pem_is_422(guard: Guard, make: Any) -> None:
    doc = guard.reject(with_(ios(), validated_certificate_chain=[make(leaf_pem())]), 422)
    assert set(doc["errors"]) == {"validated-certificate-chain"}


def _armoured(der: bytes) -> str:
    return der_to_pem(der)


def _timed_reject(guard: Guard, pem: str) -> None:
    started = time.perf_counter()
    guard.reject(with_(ios(), validated_certificate_chain=[pem]), 422)
    assert time.perf_counter() - started < 1.0  # generous: a hang, not a benchmark


def test_h37_deeply_nested_der_is_422_quickly(guard: Guard) -> None:
    der = b""
    for _ in range(5000):
        der = _tlv(0x30, der)
    _timed_reject(guard, _armoured(der))


def test_h38_huge_length_claim_is_422_quickly(guard: Guard) -> None:
    _timed_reject(guard, _armoured(b"\x30\x84\x7f\xff\xff\xff" + b"\x00" * 1024))
    _timed_reject(guard, _armoured(b"\x30\x88" + b"\xff" * 8 + b"\x00" * 64))
    _timed_reject(guard, _armoured(b"\x30\x80" + b"\x30\x80" * 2000))  # BER indefinite


# Hand-made DER for H39: a P-256-shaped key with explicit parameters and a patched field.
def _tlv(tag: int, body: bytes) -> bytes:
    n = len(body)
    if n < 0x80:
        return bytes([tag, n]) + body
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + body


def _seq(*parts: bytes) -> bytes:
    return _tlv(0x30, b"".join(parts))


def _int(value: int) -> bytes:
    return _tlv(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def _oid(dotted: str) -> bytes:
    first, second, *rest = (int(x) for x in dotted.split("."))
    out = bytes([40 * first + second])
    for arc in rest:
        enc = [arc & 0x7F]
        arc >>= 7
        while arc:
            enc.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out += bytes(reversed(enc))
    return _tlv(0x06, out)


def _name(cn: str) -> bytes:
    return _seq(_tlv(0x31, _seq(_oid("2.5.4.3"), _tlv(0x0C, cn.encode()))))


P256_P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
P256_B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
P256_GX = 0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296
P256_GY = 0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def explicit_curve_cert(prime: int) -> bytes:
    """A certificate whose EC key carries explicit curve parameters (CVE-2022-0778 class)."""
    params = _seq(
        _int(1), _seq(_oid("1.2.840.10045.1.1"), _int(prime)),
        _seq(_tlv(0x04, (P256_P - 3).to_bytes(32, "big")), _tlv(0x04, P256_B.to_bytes(32, "big"))),
        _tlv(0x04, b"\x04" + P256_GX.to_bytes(32, "big") + P256_GY.to_bytes(32, "big")),
        _int(P256_N), _int(1))
    point = b"\x02" + P256_GX.to_bytes(32, "big")  # compressed: decoding needs a square root
    spki = _seq(_seq(_oid("1.2.840.10045.2.1"), params), _tlv(0x03, b"\x00" + point))
    alg = _seq(_oid("1.2.840.10045.4.3.2"))
    validity = _seq(_tlv(0x17, b"250101000000Z"), _tlv(0x17, b"350101000000Z"))
    tbs = _seq(_tlv(0xA0, _int(2)), _int(7), alg, _name("ZQXMARK"), validity,
               _name("ZQXMARK"), spki)
    return _seq(tbs, alg, _tlv(0x03, b"\x00" + _seq(_int(1), _int(1))))


@pytest.mark.parametrize("prime", [P256_P - 1, 17 * 19, P256_P + 2, 1])
def test_h39_explicit_curve_with_a_non_prime_field_is_422_quickly(guard: Guard,
                                                                  prime: int) -> None:
    """cryptography (rust, OpenSSL 3+) refuses custom curves before any modular arithmetic."""
    _timed_reject(guard, _armoured(explicit_curve_cert(prime)))


def test_h39_explicit_parameters_of_a_named_curve_never_500(guard: Guard) -> None:
    pem = _armoured(explicit_curve_cert(P256_P))
    before, spooled = guard.state()
    started = time.perf_counter()
    resp = guard.send(with_(ios(), validated_certificate_chain=[pem]),
                      content_type="application/json")
    assert time.perf_counter() - started < 1.0
    assert resp.status_code in (204, 422)
    if resp.status_code == 422:
        guard.check(resp, 422, before, spooled)


def test_h40_ten_thousand_unknown_keys_is_a_generic_422(guard: Guard) -> None:
    doc = ios()
    doc.update({f"{MARK}{i:05d}": i for i in range(10_000)})
    body = json.dumps(doc, separators=(",", ":"))
    assert len(body) < CAP
    out = guard.reject(body, 422)
    assert set(out["errors"]) == {"_schema"}
    wrapped = {"expect-ct-report": example_doc("expect-ct.json")["expect-ct-report"]}
    wrapped.update({f"{MARK}{i:05d}": i for i in range(10_000)})
    guard.reject(wrapped, 422)
    inner = example_doc("expect-ct.json")
    inner["expect-ct-report"].update({f"{MARK}{i:05d}": i for i in range(10_000)})
    guard.reject(inner, 422)


def test_h40_a_few_unknown_keys_are_ignored_not_stored(guard: Guard) -> None:
    guard.accept(with_(ios(), scheme="https", **{MARK: MARK, "x": MARK}))
    guard.flush()
    assert MARK.encode() not in redis_text(guard.rdb)
    assert b"api.example.com" in redis_text(guard.rdb)


@pytest.mark.parametrize(("field", "value"), [
    ("app-bundle-id", "a" * 100 * 1024), ("app-version", "4.2\x00ZQXMARK"),
    ("app-version", "v" * 65), ("app-vendor-id", "u" * 129), ("app-platform", "IOSX"),
    ("app-platform-version", "9" * 65), ("trustkit-version", "3" * 33),
    ("known-pins-expiration-date", "d" * 65), ("app-bundle-id", 7), ("app-version", ["4"]),
    ("include-subdomains", "yes"), ("include-subdomains", 1), ("enforce-pinning", "false"),
    ("enforce-pinning", 0),
])
def test_h41_string_caps_and_types_on_every_field(guard: Guard, field: str, value: Any) -> None:
    doc = guard.reject(with_(ios(), **{field.replace("-", "_"): value}), 422)
    assert set(doc["errors"]) == {field}


@pytest.mark.parametrize("result", [0, -1, 6, "1", 1.0, True, [1], 10**20])
def test_h42_validation_result_outside_failure_codes_is_422(guard: Guard, result: Any) -> None:
    doc = guard.reject(with_(ios(), validation_result=result), 422)
    assert set(doc["errors"]) == {"validation-result"}


@pytest.mark.parametrize("result", [1, 2, 3, 4, 5, None])
def test_h42_failure_codes_are_accepted(guard: Guard, result: int | None) -> None:
    guard.accept(with_(android(), validation_result=result))


# --- SPEC §3 extras ---------------------------------------------------------------------------


def test_every_problem_body_fits_in_one_kib_even_with_every_field_wrong(guard: Guard) -> None:
    doc = {k.replace("_", "-"): [MARK] * 40 for k in FIELDS if not k.startswith("_")}
    doc.pop("expect-ct-report")
    out = guard.reject(doc, 422)
    assert out["errors"]


def test_a_certificate_with_a_hostile_subject_is_stored_but_never_echoed(guard: Guard) -> None:
    """Accepted content is not reflected either: the 204 has no body."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "<script>ZQXMARK</script>")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(datetime(2025, 1, 1))
            .not_valid_after(datetime(2035, 1, 1))
            .sign(key, hashes.SHA256()))
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    resp = guard.send(with_(ios(), validated_certificate_chain=[pem]),
                      content_type="application/json")
    assert resp.status_code == 204
    assert resp.get_data() == b""
