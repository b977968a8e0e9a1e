"""COLLECTOR_TRUSTED_PROXIES: the client address behind trusted proxies (web/proxies.py).

The rule as a function first, then through the app (device key and rate-limit bucket).
The end-to-end test through a real proxy hop is in tests/server/test_proxies_e2e.py.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from collector import create_app
from collector.config import Settings
from collector.intake import formats
from collector.intake.report import Report
from collector.web.proxies import MAX_HOPS, client_address, networks, parse_address
from tests.helpers import example_doc

TRUSTED = networks(["10.0.0.0/8", "192.168.0.0/16", "2001:db8:f::/48", "127.0.0.1/32"])
PROXY = "10.0.0.2"


def addr(peer: str | None, xff: str | None, trusted: Any = TRUSTED) -> str | None:
    return client_address(peer, xff, trusted)


# --- the rule ------------------------------------------------------------------------------


@pytest.mark.parametrize(("xff", "client"), [
    ("198.51.100.7", "198.51.100.7"),  # one trusted hop
    ("198.51.100.7, 10.1.2.3", "198.51.100.7"),  # two trusted hops
    ("198.51.100.7,10.1.2.3,192.168.4.4", "198.51.100.7"),  # three, no spaces
    ("6.6.6.6, 198.51.100.7", "198.51.100.7"),  # what the client wrote is never read
    ("10.9.9.9, 198.51.100.7", "198.51.100.7"),  # nor a trusted-looking spoof left of it
    ("198.51.100.7, 203.0.113.9, 10.1.2.3", "203.0.113.9"),  # untrusted hop in the middle
    ("10.1.1.1, 10.2.2.2", "10.1.1.1"),  # every hop trusted: the furthest one out
    ("  198.51.100.7  ", "198.51.100.7"),
    ("198.51.100.7:51234", "198.51.100.7"),  # a port, as some load balancers write it
    ("[2001:db8::7]:443", "2001:db8::7"),
    ("2001:DB8:0::7", "2001:db8::7"),  # canonical form
    ("::ffff:198.51.100.7", "198.51.100.7"),  # IPv4-mapped
    ("2001:db8::7, 2001:db8:f::1", "2001:db8::7"),  # IPv6 trusted hop
    ("garbage, 198.51.100.7", "198.51.100.7"),  # garbage left of the client: not read
])
def test_client_behind_trusted_proxies(xff: str, client: str) -> None:
    assert addr(PROXY, xff) == client


@pytest.mark.parametrize("xff", [
    "unknown", "_hidden", "", " ", ",", "198.51.100.7,", "198.51.100.7, , 10.1.1.1",
    "198.51.100.7, garbage", "198.51.100.7, 10.1.1.1 junk", "fe80::1%eth0", "1.2.3.4.5",
    "198.51.100.7:99999", "[198.51.100.7]", "[2001:db8::7]:", "a" * 100, "\u0661.2.3.4",
    "198.51.100.7, 10.1.1.1\x00",
])
def test_garbage_before_an_untrusted_hop_keeps_the_peer(xff: str) -> None:
    assert addr(PROXY, xff) == PROXY


def test_too_many_hops_keep_the_peer() -> None:
    hops = ["10.0.0.9"] * MAX_HOPS
    assert addr(PROXY, ", ".join(["198.51.100.7", *hops])) == PROXY
    assert addr(PROXY, ", ".join(["198.51.100.7", *hops[1:]])) == "198.51.100.7"
    assert addr(PROXY, ", ".join(["198.51.100.7", *hops[1:], "203.0.113.9"])) == "203.0.113.9"


@pytest.mark.parametrize("peer", ["198.51.100.7", "11.0.0.1", "2001:db8:e::1", "127.0.0.2"])
def test_an_untrusted_peer_is_the_client_whatever_it_forwards(peer: str) -> None:
    assert addr(peer, "203.0.113.9") == peer
    assert addr(peer, "203.0.113.9, 10.0.0.1") == peer


@pytest.mark.parametrize("peer", ["", None, "unix-socket", "::ffff:10.0.0.2", "2001:db8:f::9"])
def test_peer_forms(peer: str | None) -> None:
    expected = peer if peer in ("", None, "unix-socket") else "198.51.100.7"
    assert addr(peer, "198.51.100.7") == expected  # IPv4-mapped and IPv6 peers are matched


def test_no_trusted_networks_or_no_header_keep_the_peer() -> None:
    assert addr(PROXY, "198.51.100.7", ()) == PROXY
    assert addr(PROXY, None) == PROXY
    assert addr(PROXY, "") == PROXY


def test_everything_trusted() -> None:
    assert addr("192.0.2.1", "198.51.100.7, 203.0.113.9",
                networks(["0.0.0.0/0", "::/0"])) == "198.51.100.7"


@pytest.mark.parametrize(("text", "ip"), [
    ("192.0.2.1", "192.0.2.1"), ("192.0.2.1:80", "192.0.2.1"), ("[::1]", "::1"),
    ("[::1]:8080", "::1"), ("::FFFF:192.0.2.1", "192.0.2.1"), ("x", None), ("", None),
    ("[::1", None), ("::1]:80", None), ("192.0.2.1:", None), ("fe80::1%1", None),
])
def test_parse_address(text: str, ip: str | None) -> None:
    parsed = parse_address(text)
    assert (str(parsed) if parsed else None) == ip


# --- through the app -----------------------------------------------------------------------


@pytest.fixture
def proxied(settings: Settings) -> Iterator[tuple[Flask, list[Report]]]:
    """A collector behind 10.0.0.0/8 with one report per minute per source, recording the
    reports it accepts."""
    app = create_app(dataclasses.replace(settings, trusted_proxies=("10.0.0.0/8",),
                                         rate_limit_per_minute=1))
    svc = app.extensions["collector"]
    seen: list[Report] = []
    submit = svc.ingestor.submit

    def record(report: Report) -> str:
        seen.append(report)
        path: str = submit(report)
        return path

    svc.ingestor.submit = record
    yield app, seen
    svc.ingestor.close()


def _post(app: Flask, peer: str, xff: str | None = None) -> int:
    body = example_doc("trustkit-ios.json")
    del body["app-vendor-id"]  # devices fall back to the client address
    headers = {"X-Forwarded-For": xff} if xff is not None else {}
    resp = app.test_client().post("/v1/reports", data=json.dumps(body), headers=headers,
                                  content_type="application/json",
                                  environ_overrides={"REMOTE_ADDR": peer})
    return resp.status_code


def test_forwarded_clients_get_their_own_device_key_and_bucket(
        proxied: tuple[Flask, list[Report]]) -> None:
    app, seen = proxied
    secret_key = app.extensions["collector"].device_secret
    x, y = "198.51.100.7", "203.0.113.9"
    assert [_post(app, PROXY, x) for _ in range(3)] == [204, 204, 429]  # burst of 2
    assert _post(app, PROXY, y) == 204  # another client, another bucket
    assert _post(app, PROXY, f"{y}, {x}") == 429  # X pretending to be Y is still X
    assert _post(app, "10.0.0.3", f"{x}, 10.0.0.2") == 429  # two hops, the same X
    assert [r.device for r in seen] == [
        formats.device_key(secret_key, None, a) for a in (x, x, y)]


def test_an_untrusted_peer_cannot_choose_its_address(
        proxied: tuple[Flask, list[Report]]) -> None:
    app, seen = proxied
    secret_key = app.extensions["collector"].device_secret
    peer = "11.0.0.1"
    assert _post(app, peer, "198.51.100.7") == 204
    assert _post(app, peer, "203.0.113.9") == 204
    assert _post(app, peer, "192.0.2.1") == 429  # one bucket, whatever the header says
    assert _post(app, PROXY, "198.51.100.7") == 204  # that address's bucket is untouched
    assert [r.device for r in seen[:2]] == [formats.device_key(secret_key, None, peer)] * 2


def test_without_trusted_proxies_the_header_is_ignored(settings: Settings) -> None:
    app = create_app(dataclasses.replace(settings, rate_limit_per_minute=1))
    try:
        assert [_post(app, PROXY, f"198.51.100.{i}") for i in range(3)] == [204, 204, 429]
    finally:
        app.extensions["collector"].ingestor.close()
