"""Sign-in attempts are limited per client address prefix (a /24 or /64): past
``SIGNIN_PER_MINUTE`` a 429 page with ``Retry-After``, even for the right token, while other
networks still sign in. The limit stores nothing in Redis."""

from __future__ import annotations

from typing import Any

import redis
from flask.testing import FlaskClient

from collector.web.dashboard.signin import SIGNIN_PER_MINUTE
from tests.helpers import TOKEN, snapshot
from tests.web.dashboard.conftest import csrf_of


def attempt(client: FlaskClient, token: str, address: str) -> Any:
    env = {"REMOTE_ADDR": address}
    form = client.get("/signin", environ_base=env)
    return client.post("/signin", data={"csrf_token": csrf_of(form.text), "token": token},
                       environ_base=env)


def test_sign_in_attempts_are_limited_per_address_prefix(client: FlaskClient,
                                                          rdb: redis.Redis) -> None:
    for n in range(SIGNIN_PER_MINUTE):
        resp = attempt(client, f"guess-{n}", "192.0.2.10")
        assert resp.status_code == 401, n
    before = snapshot(rdb)
    for token, address in (("guess-x", "192.0.2.10"), (TOKEN, "192.0.2.10"),
                           (TOKEN, "192.0.2.200")):  # the same /24
        resp = attempt(client, token, address)
        assert resp.status_code == 429
        assert 1 <= int(resp.headers["Retry-After"]) <= 60
        assert 'role="alert"' in resp.text and "Too many sign-in attempts" in resp.text
        assert 'type="password"' in resp.text and token not in resp.text
    assert snapshot(rdb) == before  # no session started, no limiter key
    other = attempt(client, TOKEN, "198.51.100.7")  # another network signs in
    assert other.status_code == 303


def test_ipv6_clients_share_a_64(client: FlaskClient) -> None:
    for n in range(SIGNIN_PER_MINUTE):
        assert attempt(client, f"guess-{n}", f"2001:db8:1:2::{n + 1}").status_code == 401
    assert attempt(client, TOKEN, "2001:db8:1:2:ffff::1").status_code == 429
    assert attempt(client, TOKEN, "2001:db8:1:3::1").status_code == 303
