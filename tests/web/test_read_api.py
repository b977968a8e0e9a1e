"""The analyst API (SPEC section 5): every route, field and error, against a real Redis."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from flask.testing import FlaskClient

from tests.helpers import (
    CHROME_FP,
    CHROME_PINS,
    IOS_FP,
    auth,
    example_doc,
    public_trust_ios,
    send,
    send_golden,
)


def for_host(hostname: str, **changes: Any) -> dict[str, Any]:
    doc = example_doc("trustkit-ios.json")
    doc.update(hostname=hostname, **{"noted-hostname": hostname}, **changes)
    return doc


def get(client: FlaskClient, path: str, status: int = 200, **params: Any) -> Any:
    resp = client.get(path, headers=auth(), query_string=params)
    assert resp.status_code == status, (path, resp.status_code, resp.get_data()[:500])
    doc = resp.json
    assert doc is not None
    if status >= 400:
        assert resp.content_type == "application/problem+json"
        assert doc["status"] == status
    return doc


READ_PATHS = ("/v1/summary", "/v1/hosts", "/v1/hosts/api.example.com",
              "/v1/hosts/api.example.com/timeline", "/v1/chains", f"/v1/chains/{IOS_FP}",
              "/v1/openapi.json", "/v1/hosts/nothing.example", "/v1/chains/zz")


def test_every_read_route_needs_the_token_and_401_is_one_body(client: FlaskClient) -> None:
    send_golden(client)
    bodies = set()
    for path in READ_PATHS:
        for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic x"},
                        {"Authorization": "Bearer"}):
            resp = client.get(path, headers=headers)
            assert resp.status_code == 401, path
            assert resp.content_type == "application/problem+json"
            assert resp.headers["WWW-Authenticate"].startswith("Bearer")
            bodies.add(resp.get_data())
    assert len(bodies) == 1
    for path in READ_PATHS[:7]:
        assert client.get(path, headers=auth()).status_code == 200, path


def test_hosts_list_fields(client: FlaskClient) -> None:
    send_golden(client)
    doc = get(client, "/v1/hosts")
    assert doc["next_cursor"] is None
    by_name = {h["hostname"]: h for h in doc["items"]}
    assert [h["hostname"] for h in doc["items"]] == ["api.example.com", "www.datatheorem.com"]
    api = by_name["api.example.com"]
    assert (api["reports"], api["devices"], api["chains"]) == (4, 3, 2)
    assert api["first_seen"].endswith("Z") and api["last_seen"].endswith("Z")
    assert by_name["www.datatheorem.com"]["reports"] == 1
    last = get(client, "/v1/hosts", sort="last_seen")["items"]
    assert {h["hostname"] for h in last} == set(by_name)


def test_hosts_pagination_over_three_pages(client: FlaskClient) -> None:
    for i in range(12):
        send(client, *[for_host(f"h{i:02d}.example.net")] * (i + 1))
    seen, cursor, pages = [], None, 0
    while True:
        params: dict[str, Any] = {"limit": 5}
        if cursor:
            params["cursor"] = cursor
        doc = get(client, "/v1/hosts", **params)
        pages += 1
        assert len(doc["items"]) <= 5
        seen += [(h["hostname"], h["reports"]) for h in doc["items"]]
        cursor = doc["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == [(f"h{i:02d}.example.net", i + 1) for i in reversed(range(12))]
    names, cursor = set(), None
    for _ in range(3):
        params = {"limit": 5, "sort": "last_seen", **({"cursor": cursor} if cursor else {})}
        doc = get(client, "/v1/hosts", **params)
        names |= {h["hostname"] for h in doc["items"]}
        cursor = doc["next_cursor"]
    assert cursor is None and len(names) == 12
    # A window pages the same way, from the daily rankings.
    doc = get(client, "/v1/hosts", limit=5, since="2000-01-01T00:00:00Z")
    assert [h["reports"] for h in doc["items"]] == [12, 11, 10, 9, 8]
    doc = get(client, "/v1/hosts", limit=5, since="2000-01-01T00:00:00Z",
              cursor=doc["next_cursor"])
    assert [h["reports"] for h in doc["items"]] == [7, 6, 5, 4, 3]


def test_limit_is_clamped_and_bad_params_are_400(client: FlaskClient) -> None:
    for i in range(3):
        send(client, for_host(f"c{i}.example.net"))
    assert len(get(client, "/v1/hosts", limit=0)["items"]) == 1
    assert len(get(client, "/v1/hosts", limit=-7)["items"]) == 1
    assert len(get(client, "/v1/hosts", limit=10**12)["items"]) == 3
    assert "limit" in get(client, "/v1/hosts", 400, limit="many")["errors"]
    assert "sort" in get(client, "/v1/hosts", 400, sort="name")["errors"]
    assert "cursor" in get(client, "/v1/hosts", 400, cursor="garbage!")["errors"]
    reports_cursor = get(client, "/v1/hosts", limit=1)["next_cursor"]
    get(client, "/v1/hosts", 400, cursor=reports_cursor, sort="last_seen")
    get(client, "/v1/chains", 400, cursor=reports_cursor)
    forged = base64.urlsafe_b64encode(b"h1.reports.-1").decode()
    get(client, "/v1/hosts", 400, cursor=forged)
    for bad in ("yesterday", "2026-01-01T00:00:00", "2026-13-01T00:00:00Z",
                "0001-01-01T00:00:00+01:00"):
        for path in ("/v1/summary", "/v1/hosts", "/v1/hosts/api.example.com", "/v1/chains"):
            get(client, path, 400, since=bad)
    get(client, "/v1/summary", 400, since="2026-02-01T00:00:00Z", until="2026-01-01T00:00:00Z")


def test_host_view_fields_and_pin_advice(pclient: FlaskClient) -> None:
    send_golden(pclient)
    send(pclient, public_trust_ios(**{"known-pins": [f'pin-sha256="{CHROME_PINS[1]}"'],
                                      "known-pins-expiration-date": "2020-01-01"}))
    doc = get(pclient, "/v1/hosts/api.example.com")
    assert doc["hostname"] == "api.example.com"
    assert doc["reports"] == 5
    assert doc["devices"] == 3
    chains = {c["fingerprint"]: c for c in doc["chains"]}
    assert chains[CHROME_FP]["classification"] == "public-trust"
    assert chains[CHROME_FP]["label"]
    assert chains[IOS_FP]["classification"] == "unknown"
    assert chains[IOS_FP]["pins_that_would_pass"] == []
    passing = chains[CHROME_FP]["pins_that_would_pass"]
    assert [(p["position"], p["pin"]) for p in passing] == list(
        zip(("leaf", "intermediate", "root"), CHROME_PINS, strict=True))
    assert passing[0]["android_nsc"] == f'<pin digest="SHA-256">{CHROME_PINS[0]}</pin>'
    assert passing[0]["trustkit"] == CHROME_PINS[0]
    apps = {(a["app_id"], a["platform"]): a for a in doc["apps"]}
    assert apps[("com.example.app", "IOS")]["reports"] == 2
    assert apps[("com.example.app", "IOS")]["app_version"] == "4.2.0"
    assert doc["validation_results"] == {"1": 3, "none": 2}
    assert doc["enforcement"] == {"enforced": 0, "report_only": 3, "unknown": 2}
    sets = {tuple(p["pins"]): p for p in doc["pin_sets"]}
    golden = next(p for k, p in sets.items() if len(k) == 2)
    assert golden["has_backup_pin"] is True
    assert golden["matches_public_trust_key"] is False
    assert golden["other"] is False
    crafted = next(p for k, p in sets.items() if len(k) == 1)
    assert crafted["has_backup_pin"] is False
    assert crafted["matches_public_trust_key"] is True
    assert crafted["matching_pins"] == [CHROME_PINS[1]]
    assert crafted["days_to_expiry"] < 0
    risk = doc["hard_fail_readiness"]
    assert risk["devices_at_risk"] == 1
    assert risk["by_app_version"] == [{"app_version": "4.2.0", "reports": 1, "devices": 1}]


def test_host_lookup_by_u_label_and_a_label(client: FlaskClient) -> None:
    send(client, for_host("xn--bcher-kva.example"))
    for name in ("bücher.example", "BÜCHER.example.", "xn--bcher-kva.example",
                 "XN--BCHER-KVA.EXAMPLE"):
        assert get(client, f"/v1/hosts/{name}")["hostname"] == "xn--bcher-kva.example"
        assert get(client, f"/v1/hosts/{name}/timeline")["hostname"] == "xn--bcher-kva.example"
    assert get(client, "/v1/hosts")["items"][0]["hostname"] == "xn--bcher-kva.example"


def test_unknown_or_invalid_hosts_and_chains_are_404(client: FlaskClient) -> None:
    send_golden(client)
    for path in ("/v1/hosts/nothing.example", "/v1/hosts/bad_host!", "/v1/hosts/-x-.example",
                 "/v1/hosts/nothing.example/timeline", "/v1/hosts/a..b/timeline",
                 "/v1/chains/" + "0" * 64, "/v1/chains/" + IOS_FP.upper(),
                 "/v1/chains/" + IOS_FP[:-1], "/v1/chains/" + IOS_FP + "0", "/v1/chains/x",
                 "/v1/nothing"):
        get(client, path, 404)


def test_timeline_by_day_and_hour(client: FlaskClient) -> None:
    send_golden(client)
    day = get(client, "/v1/hosts/api.example.com/timeline")
    assert day["interval"] == "day"
    assert 90 <= len(day["points"]) <= 92
    assert sum(p["reports"] for p in day["points"]) == 4
    assert all(p["start"].endswith("T00:00:00Z") for p in day["points"])
    hour = get(client, "/v1/hosts/api.example.com/timeline", interval="hour")
    assert hour["interval"] == "hour"
    assert 168 <= len(hour["points"]) <= 170
    assert sum(p["reports"] for p in hour["points"]) == 4
    assert hour["points"][-1]["reports"] >= 1 or hour["points"][-2]["reports"] >= 1
    starts = [p["start"] for p in hour["points"]]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)
    future = get(client, "/v1/hosts/api.example.com/timeline", since="2999-01-01T00:00:00Z")
    assert future["points"] == []
    old = get(client, "/v1/hosts/api.example.com/timeline", interval="hour",
              until="2001-01-01T00:00:00Z")
    assert old["points"] == []
    assert "interval" in get(client, "/v1/hosts/api.example.com/timeline", 400,
                             interval="minute")["errors"]


def test_chain_detail_certificates(pclient: FlaskClient) -> None:
    send_golden(pclient)
    doc = get(pclient, f"/v1/chains/{CHROME_FP}")
    assert doc["fingerprint"] == CHROME_FP
    assert doc["reports"] == 2
    assert doc["classification"] == "public-trust"
    assert doc["label"]
    assert doc["port"] == 443
    assert doc["hosts"] == [{"hostname": "api.example.com", "reports": 2,
                             "classification": "public-trust", "label": doc["label"],
                             "triage": {"state": "open", "note": None, "by": None, "at": None,
                                        "via": None, "pin": None}}]
    assert doc["ignored_hosts"] == []
    assert doc["more_hosts"] is None
    certs = doc["certificates"]
    assert [c["spki_sha256"] for c in certs] == CHROME_PINS
    assert certs[0]["subject"] == "CN=api.example.com"
    assert certs[0]["issuer"] == certs[1]["subject"]
    assert certs[2]["subject"] == certs[2]["issuer"]
    for c in certs:
        der = base64.b64decode("".join(c["pem"].strip().splitlines()[1:-1]))
        assert hashlib.sha256(der).hexdigest() == c["sha256"]
        assert c["not_before"] < c["not_after"] and c["not_after"].endswith("Z")
        int(c["serial"], 16)
    assert [p["pin"] for p in doc["pins_that_would_pass"]] == CHROME_PINS
    ios = get(pclient, f"/v1/chains/{IOS_FP}")
    assert ios["classification"] == "unknown" and ios["label"] is None
    assert ios["reports"] == 2 and ios["port"] == 0
    assert ios["pins_that_would_pass"] == []
    assert len(ios["certificates"]) == 2
    assert get(pclient, f"/v1/chains/{IOS_FP}", since="2999-01-01T00:00:00Z")["reports"] == 0


def test_chains_list(client: FlaskClient) -> None:
    send_golden(client)
    doc = get(client, "/v1/chains", limit=2)
    assert [c["reports"] for c in doc["items"]] == [2, 2]
    rest = get(client, "/v1/chains", limit=2, cursor=doc["next_cursor"])
    assert rest["next_cursor"] is None and len(rest["items"]) == 1
    fps = {c["fingerprint"] for c in doc["items"] + rest["items"]}
    assert {IOS_FP, CHROME_FP} <= fps
    item = doc["items"][0]
    assert set(item) == {"fingerprint", "reports", "hosts", "classification", "label",
                         "first_seen", "last_seen", "triage"}
    assert item["hosts"] == 1


def test_summary_fields_and_windows(client: FlaskClient) -> None:
    send_golden(client)
    doc = get(client, "/v1/summary")
    assert (doc["reports"], doc["hosts"], doc["chains"]) == (5, 2, 3)
    assert doc["by_classification"] == {"unknown": 5}
    assert doc["top_hosts"][0] == {"hostname": "api.example.com", "reports": 4}
    windowed = get(client, "/v1/summary", since="2000-01-01T00:00:00Z")
    assert (windowed["reports"], windowed["hosts"], windowed["chains"]) == (5, 2, 3)
    assert windowed["devices"] == doc["devices"]
    empty = get(client, "/v1/summary", since="2999-01-01T00:00:00Z")
    assert (empty["reports"], empty["hosts"], empty["top_hosts"]) == (0, 0, [])
    old = get(client, "/v1/hosts/api.example.com", until="2001-01-01T00:00:00Z")
    assert (old["reports"], old["devices"], old["chains"]) == (0, 0, [])
    now = get(client, "/v1/hosts/api.example.com", since="2000-01-01T00:00:00+02:00")
    assert now["reports"] == 4 and len(now["chains"]) == 2
