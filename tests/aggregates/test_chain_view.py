"""The chain side of issue 11, through the app and a real Redis: the chain view with each host's
pair class, the chain list filtered by class and host, chain and pair timelines, windows, and
the recommended pin set of a host."""

from __future__ import annotations

import datetime
import time
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from flask.testing import FlaskClient

from collector.aggregates.read import chain_list
from collector.aggregates.read.chain_view import chain_doc
from collector.aggregates.read.recommendation import host_recommendation
from collector.aggregates.read.windows import Window
from collector.intake import formats
from collector.intake.chains import parse_chain
from tests.helpers import (
    CHROME_FP,
    CHROME_PINS,
    IOS_FP,
    auth,
    example_doc,
    flush,
    public_trust_ios,
    send,
    send_golden,
)

A, B = "api.example.com", "other.example.net"
DAY_MS = 86_400_000


def get(client: FlaskClient, path: str, status: int = 200, **params: Any) -> Any:
    resp = client.get(path, headers=auth(), query_string=params)
    assert resp.status_code == status, (path, resp.status_code, resp.get_data()[:500])
    if status >= 400:
        assert resp.content_type == "application/problem+json"
    return resp.json


def on(hostname: str, **changes: Any) -> dict[str, Any]:
    """The public Chromium chain reported (report-only iOS) for ``hostname``."""
    return public_trust_ios(hostname=hostname, **{"noted-hostname": hostname}, **changes)


def self_signed(hostname: str, n: int) -> dict[str, Any]:
    """A report for ``hostname`` over a fresh self-signed chain (one new fingerprint each)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"proxy {n}")])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .sign(key, hashes.SHA256()))
    doc = example_doc("trustkit-ios.json")
    doc.update(hostname=hostname, **{"noted-hostname": hostname})
    doc["validated-certificate-chain"] = [cert.public_bytes(serialization.Encoding.PEM).decode()]
    return doc


def send_at(client: FlaskClient, doc: dict[str, Any], received_ms: int) -> None:
    """Store a report as if it had been received at ``received_ms``."""
    svc = client.application.extensions["collector"]
    report = formats.build(doc, received_ms=received_ms, secret=svc.device_secret,
                           client_addr=None)
    svc.ingestor.submit(svc.classify(report))
    flush(client)


def test_a_public_chain_is_public_trust_only_for_the_host_its_leaf_covers(
        pclient: FlaskClient) -> None:
    send(pclient, on(A), on(A), on(B))
    doc = get(pclient, f"/v1/chains/{CHROME_FP}")
    assert doc["classification"] == "public-trust" and doc["label"]
    assert doc["reports"] == 3
    hosts = {h["hostname"]: h for h in doc["hosts"]}
    assert [h["hostname"] for h in doc["hosts"]] == [A, B]
    assert (hosts[A]["reports"], hosts[A]["classification"]) == (2, "public-trust")
    assert (hosts[B]["reports"], hosts[B]["classification"]) == (1, "unknown")
    assert "does not cover" in hosts[B]["label"]
    assert doc["more_hosts"] is None
    assert [p["pin"] for p in doc["pins_that_would_pass"]] == CHROME_PINS


def test_a_stale_stored_class_is_recomputed(pclient: FlaskClient) -> None:
    send(pclient, on(A), on(B))
    keys = pclient.application.extensions["collector"].reads.keys
    rdb = pclient.application.extensions["collector"].reads.client
    rdb.hset(keys.glob.chain(CHROME_FP), mapping={"classification": "unknown", "cv": "old"})
    rdb.hset(keys.host(A).pair(CHROME_FP), mapping={"class": "tls-inspection", "cv": "old"})
    rdb.delete(keys.host(B).pair(CHROME_FP))  # no pair record: decided from the certificates
    doc = get(pclient, f"/v1/chains/{CHROME_FP}")
    assert doc["classification"] == "public-trust"
    assert {h["hostname"]: h["classification"] for h in doc["hosts"]} == {
        A: "public-trust", B: "unknown"}


def test_chain_list_filters_by_class_and_host(pclient: FlaskClient) -> None:
    send_golden(pclient)
    send(pclient, on(B))
    public = get(pclient, "/v1/chains", classification="public-trust")
    assert [c["fingerprint"] for c in public["items"]] == [CHROME_FP]
    assert public["items"][0]["hosts"] == 2 and public["next_cursor"] is None
    unknown = get(pclient, "/v1/chains", classification="unknown")
    assert CHROME_FP not in {c["fingerprint"] for c in unknown["items"]}
    assert IOS_FP in {c["fingerprint"] for c in unknown["items"]}
    assert get(pclient, "/v1/chains", classification="interception-tool")["items"] == []

    on_b = get(pclient, "/v1/chains", hostname=B)["items"]
    assert [(c["fingerprint"], c["reports"], c["classification"]) for c in on_b] == [
        (CHROME_FP, 1, "unknown")]
    assert "does not cover" in on_b[0]["label"] and on_b[0]["hosts"] == 2
    assert get(pclient, "/v1/chains", hostname=B, classification="public-trust")["items"] == []
    on_a = get(pclient, "/v1/chains", hostname="API.Example.com.", classification="public-trust")
    assert [(c["fingerprint"], c["reports"]) for c in on_a["items"]] == [(CHROME_FP, 2)]
    assert get(pclient, "/v1/chains", hostname="nothing.example")["items"] == []


def test_chain_list_hostname_accepts_a_u_label(client: FlaskClient) -> None:
    doc = example_doc("trustkit-ios.json")
    doc.update(hostname="xn--bcher-kva.example", **{"noted-hostname": "xn--bcher-kva.example"})
    send(client, doc)
    for name in ("bücher.example", "BÜCHER.example", "xn--bcher-kva.example"):
        items = get(client, "/v1/chains", hostname=name)["items"]
        assert [c["fingerprint"] for c in items] == [IOS_FP], name


def test_bad_filters_are_400(client: FlaskClient) -> None:
    send_golden(client)
    for bad in ("Public-Trust", "public_trust", "", "other"):
        assert "classification" in get(client, "/v1/chains", 400, classification=bad)["errors"]
    for bad in ("bad_host!", "-x-.example", "a..b", "", "x" * 300):
        assert "hostname" in get(client, "/v1/chains", 400, hostname=bad)["errors"]
    cursor = get(client, "/v1/chains", limit=1)["next_cursor"]
    assert cursor
    assert "cursor" in get(client, "/v1/chains", 400, hostname=A, cursor=cursor)["errors"]
    host_cursor = get(client, "/v1/chains", hostname=A, limit=1)["next_cursor"]
    assert host_cursor
    get(client, "/v1/chains", 400, cursor=host_cursor)


def test_filtered_pages_scan_a_bounded_part_of_the_ranking(
        pclient: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(9):
        send(pclient, *[self_signed(A, i)] * (i + 2))  # 2..10 reports each
    send(pclient, on(A))  # the one public-trust chain, least reported
    monkeypatch.setattr(chain_list, "SCAN_BATCH", 2)
    monkeypatch.setattr(chain_list, "SCAN_BUDGET", 4)
    for params in ({"classification": "public-trust"},
                   {"classification": "public-trust", "hostname": A}):
        pages, found, cursor = 0, [], None
        while True:
            query: dict[str, Any] = {"limit": 2, **params, **({"cursor": cursor} if cursor else {})}
            doc = get(pclient, "/v1/chains", **query)
            pages += 1
            found += [c["fingerprint"] for c in doc["items"]]
            cursor = doc["next_cursor"]
            if cursor is None:
                break
        assert found == [CHROME_FP], params
        assert pages == 3  # 10 chains, 4 looked at per request: empty pages say "more"
    unknown, cursor = [], None
    while True:
        doc = get(pclient, "/v1/chains", limit=4, classification="unknown",
                  **({"cursor": cursor} if cursor else {}))
        assert len(doc["items"]) <= 4
        unknown += [(c["fingerprint"], c["reports"]) for c in doc["items"]]
        cursor = doc["next_cursor"]
        if cursor is None:
            break
    assert [n for _, n in unknown] == list(range(10, 1, -1))
    assert len({fp for fp, _ in unknown}) == 9


def test_chain_and_pair_timelines(pclient: FlaskClient) -> None:
    send_golden(pclient)
    send(pclient, on(B))
    for interval, points in (("day", (90, 92)), ("hour", (168, 170))):
        chain = get(pclient, f"/v1/chains/{CHROME_FP}/timeline", interval=interval)
        assert chain["fingerprint"] == CHROME_FP and chain["interval"] == interval
        assert points[0] <= len(chain["points"]) <= points[1]
        assert sum(p["reports"] for p in chain["points"]) == 3
        pair = get(pclient, f"/v1/hosts/{A}/chains/{CHROME_FP}/timeline", interval=interval)
        assert (pair["hostname"], pair["fingerprint"]) == (A, CHROME_FP)
        assert sum(p["reports"] for p in pair["points"]) == 2
        other = get(pclient, f"/v1/hosts/{B.upper()}/chains/{CHROME_FP}/timeline",
                    interval=interval)
        assert other["hostname"] == B and sum(p["reports"] for p in other["points"]) == 1
    default = get(pclient, f"/v1/chains/{IOS_FP}/timeline")
    assert default["interval"] == "day" and sum(p["reports"] for p in default["points"]) == 2
    assert all(p["start"].endswith("T00:00:00Z") for p in default["points"])
    future = get(pclient, f"/v1/chains/{CHROME_FP}/timeline", since="2999-01-01T00:00:00Z")
    assert future["points"] == []
    for path in (f"/v1/chains/{'0' * 64}/timeline", f"/v1/chains/{CHROME_FP.upper()}/timeline",
                 "/v1/chains/x/timeline", f"/v1/hosts/nothing.example/chains/{CHROME_FP}/timeline",
                 f"/v1/hosts/www.datatheorem.com/chains/{CHROME_FP}/timeline",
                 f"/v1/hosts/bad_host!/chains/{CHROME_FP}/timeline",
                 f"/v1/hosts/{A}/chains/{'0' * 64}/timeline", f"/v1/hosts/{A}/chains/zz/timeline"):
        get(pclient, path, 404)
    for path in (f"/v1/chains/{CHROME_FP}/timeline",
                 f"/v1/hosts/{A}/chains/{CHROME_FP}/timeline"):
        assert "interval" in get(pclient, path, 400, interval="week")["errors"]
        assert "since" in get(pclient, path, 400, since="yesterday")["errors"]


def test_a_window_leaves_older_reports_out_of_every_chain_figure(pclient: FlaskClient) -> None:
    now = int(time.time() * 1000)
    send_at(pclient, on(B), now - 5 * DAY_MS)
    send_at(pclient, on(A), now - 5 * DAY_MS)
    send(pclient, on(A), on(A))
    since = (datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1)).isoformat()
    all_time = get(pclient, f"/v1/chains/{CHROME_FP}")
    assert all_time["reports"] == 4
    assert {h["hostname"]: h["reports"] for h in all_time["hosts"]} == {A: 3, B: 1}
    recent = get(pclient, f"/v1/chains/{CHROME_FP}", since=since)
    assert recent["reports"] == 2
    assert [(h["hostname"], h["reports"], h["classification"]) for h in recent["hosts"]] == [
        (A, 2, "public-trust")]
    assert recent["first_seen"] > all_time["first_seen"]
    assert recent["first_seen"] >= since[:19]
    assert recent["last_seen"] == all_time["last_seen"]
    old = get(pclient, f"/v1/chains/{CHROME_FP}",
              until=(datetime.datetime.now(datetime.UTC)
                     - datetime.timedelta(days=2)).isoformat())
    assert old["reports"] == 2 and {h["hostname"] for h in old["hosts"]} == {A, B}
    assert old["last_seen"] < recent["first_seen"]

    item = get(pclient, "/v1/chains", since=since)["items"][0]
    assert (item["fingerprint"], item["reports"], item["hosts"]) == (CHROME_FP, 2, 1)
    assert item["first_seen"] == recent["first_seen"]
    assert get(pclient, "/v1/chains")["items"][0]["hosts"] == 2
    assert get(pclient, "/v1/chains", since=since, hostname=B)["items"] == []
    on_a = get(pclient, "/v1/chains", since=since, hostname=A)["items"][0]
    assert (on_a["reports"], on_a["first_seen"]) == (2, recent["first_seen"])
    timeline = get(pclient, f"/v1/chains/{CHROME_FP}/timeline", since=since, interval="hour")
    assert sum(p["reports"] for p in timeline["points"]) == 2
    days = get(pclient, f"/v1/hosts/{B}/chains/{CHROME_FP}/timeline")
    assert sum(p["reports"] for p in days["points"]) == 1


def test_recommended_pins_of_a_host(pclient: FlaskClient) -> None:
    send_golden(pclient)
    ctx = pclient.application.extensions["collector"].reads
    pin_sets = [(["pin-sha256=\"r/mIkG3eEpVdm+u/ko/cwxzOMo1bk4TyHIlByibiA5E=\""], 4)]
    got = host_recommendation(ctx, A, [(IOS_FP, 2, "unknown"), (CHROME_FP, 2, "public-trust")],
                              pin_sets)
    assert [(p["pin"], p["role"]) for p in got["pins"]] == list(
        zip(CHROME_PINS, ("primary", "backup", "backup"), strict=True))
    assert got["pins"][0]["subject"] == "CN=api.example.com"
    assert got["trustkit"]["kTSKPublicKeyHashes"] == CHROME_PINS
    assert got["android_nsc"].count("<pin ") == 3 and got["why"] is None
    in_view = get(pclient, f"/v1/hosts/{A}")["recommended_pins"]
    assert [(p["pin"], p["role"]) for p in in_view["pins"]] == [
        (p["pin"], p["role"]) for p in got["pins"]]
    # A chain stored without its root still recommends the root's key (the verified path).
    served = example_doc("chromium-hpkp.json")["served-certificate-chain"]
    doc = public_trust_ios(**{"validated-certificate-chain": served})
    send(pclient, doc)
    fp = parse_chain(tuple(served)).fingerprint
    got = host_recommendation(ctx, A, [(fp, 1, "public-trust")], [])
    assert [p["pin"] for p in got["pins"]] == CHROME_PINS
    nothing = host_recommendation(ctx, A, [(IOS_FP, 2, "unknown")], [])
    assert nothing["pins"] == [] and "No public-trust chain" in nothing["why"]


def test_chain_view_directly_without_a_classifier(pclient: FlaskClient) -> None:
    send(pclient, on(A), on(B))
    reads = pclient.application.extensions["collector"].reads
    bare = type(reads)(reads.client, reads.keys, reads.retention_days)
    doc = chain_doc(bare, CHROME_FP, Window())
    assert doc is not None and doc["classification"] == "public-trust"
    assert {h["hostname"]: h["classification"] for h in doc["hosts"]} == {
        A: "public-trust", B: "unknown"}
