"""Sign-in, the session cookie, sign-out and deep links (SPEC section 10), at the WSGI level."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from datetime import timedelta
from http.cookies import SimpleCookie
from urllib.parse import parse_qs, urlsplit

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from collector import create_app
from collector.aggregates.keys import Keys
from collector.config import Settings
from collector.web.dashboard.sessions import COOKIE, IDLE
from tests.helpers import TOKEN, snapshot
from tests.web.dashboard.conftest import csrf_of, sign_in


def set_cookie(resp: object) -> SimpleCookie:
    headers = resp.headers.getlist("Set-Cookie")  # type: ignore[attr-defined]
    jar: SimpleCookie = SimpleCookie()
    for h in headers:
        jar.load(h)
    return jar


def cookie_header(resp: object) -> str:
    found = [h for h in resp.headers.getlist("Set-Cookie")  # type: ignore[attr-defined]
             if h.startswith(f"{COOKIE}=")]
    assert len(found) == 1, found
    return str(found[0])


def session_keys(rdb: redis.Redis, keys: Keys) -> list[bytes]:
    return list(rdb.scan_iter(f"{keys.prefix}:{{s}}:session:*"))


def test_root_without_session_shows_the_sign_in_form(client: FlaskClient) -> None:
    resp = client.get("/")
    assert resp.status_code == 200
    assert resp.mimetype == "text/html"
    assert len(re.findall(r"<input[^>]*type=\"password\"", resp.text)) == 1
    assert 'name="csrf_token"' in resp.text
    assert 'role="alert"' not in resp.text


def test_bad_token_is_401_with_the_form_and_an_alert(client: FlaskClient, rdb: redis.Redis,
                                                      keys: Keys) -> None:
    for token in ("wrong", "", TOKEN + "x", " " * 10, "x" * 5000):
        resp = sign_in(client, token)
        assert resp.status_code == 401
        assert 'role="alert"' in resp.text and 'type="password"' in resp.text
        assert token.strip() == "" or token not in resp.text  # never echoed
    assert session_keys(rdb, keys) == []


def test_good_token_starts_a_signed_http_only_strict_session(
        client: FlaskClient, rdb: redis.Redis, keys: Keys) -> None:
    resp = sign_in(client)
    assert resp.status_code == 303 and resp.headers["Location"] == "/"
    header = cookie_header(resp)
    attrs = {a.strip().split("=")[0].lower() for a in header.split(";")[1:]}
    assert {"httponly", "path", "expires"} <= attrs
    assert "samesite=strict" in header.lower()
    assert "secure" not in attrs  # plain HTTP here
    value = set_cookie(resp)[COOKIE].value
    assert TOKEN not in value and "." in value  # signed (itsdangerous), no token inside
    (key,) = session_keys(rdb, keys)
    assert 0 < rdb.ttl(key) <= IDLE.total_seconds()
    assert TOKEN.encode() not in rdb.get(key)  # type: ignore[operator]
    page = client.get("/")
    assert page.status_code == 200 and "Signed in as" in page.text


def test_a_tampered_cookie_opens_nothing(client: FlaskClient) -> None:
    sign_in(client)
    value = client.get_cookie(COOKIE).value  # type: ignore[union-attr]
    client.set_cookie(COOKIE, value[:-2] + ("AA" if not value.endswith("AA") else "BB"))
    resp = client.get("/hosts")
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/signin")


def test_secure_flag_only_over_tls(client: FlaskClient, app: Flask) -> None:
    resp = sign_in(client)
    assert "secure" not in cookie_header(resp).lower().replace("samesite", "")
    client = app.test_client()
    form = client.get("/signin", base_url="https://localhost")
    resp = client.post("/signin", base_url="https://localhost",
                       data={"csrf_token": csrf_of(form.text), "token": TOKEN},
                       headers={"Referer": "https://localhost/signin"})
    assert resp.status_code == 303
    assert "; secure" in cookie_header(resp).lower()


def test_forwarded_proto_counts_only_from_a_trusted_proxy(settings: Settings) -> None:
    app = create_app(dataclasses.replace(settings, trusted_proxies=("10.0.0.0/8",)))
    try:
        for peer, secure in (("10.1.2.3", True), ("192.0.2.7", False)):
            client = app.test_client()
            env = {"REMOTE_ADDR": peer}
            headers = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.9"}
            form = client.get("/signin", environ_base=env, headers=headers)
            resp = client.post("/signin", data={"csrf_token": csrf_of(form.text),
                                                "token": TOKEN},
                               environ_base=env, headers=headers)
            assert resp.status_code == 303
            assert ("; secure" in cookie_header(resp).lower()) is secure, peer
    finally:
        app.extensions["collector"].ingestor.close()


def test_sign_out_ends_the_session_on_the_server(client: FlaskClient, rdb: redis.Redis,
                                                 keys: Keys) -> None:
    sign_in(client)
    cookie = client.get_cookie(COOKIE)
    assert cookie is not None
    replay = cookie.value
    page = client.get("/hosts")
    assert page.status_code == 200
    resp = client.post("/signout", data={"csrf_token": csrf_of(page.text)})
    assert resp.status_code == 303
    assert session_keys(rdb, keys) == []
    client.set_cookie(COOKIE, replay)  # the old cookie, replayed as is
    for path in ("/hosts", "/alerts", "/hosts/api.example.com"):
        again = client.get(path)
        assert again.status_code == 302, path
        assert urlsplit(again.headers["Location"]).path == "/signin"
    assert "Signed in as" not in client.get("/").text


def test_sign_out_needs_csrf(client: FlaskClient, rdb: redis.Redis, keys: Keys) -> None:
    sign_in(client)
    assert client.post("/signout").status_code == 400
    assert len(session_keys(rdb, keys)) == 1
    assert client.get("/signout").status_code == 405


def test_sign_in_needs_csrf(client: FlaskClient, rdb: redis.Redis) -> None:
    before = snapshot(rdb)
    resp = client.post("/signin", data={"token": TOKEN})
    assert resp.status_code == 400 and resp.mimetype == "text/html"
    assert snapshot(rdb) == before  # no session record
    assert "Signed in as" not in client.get("/hosts").text


def test_a_new_sign_in_ends_the_previous_session(client: FlaskClient, rdb: redis.Redis,
                                                 keys: Keys) -> None:
    sign_in(client)
    first = session_keys(rdb, keys)
    csrf = csrf_of(client.get("/hosts").text)  # signed in: /signin itself redirects
    assert client.post("/signin", data={"csrf_token": csrf, "token": TOKEN}).status_code == 303
    second = session_keys(rdb, keys)
    assert len(first) == len(second) == 1 and first != second


def test_deep_link_without_a_cookie_leads_through_sign_in_and_back(client: FlaskClient) -> None:
    target = "/hosts/api.example.com?last=7d"
    resp = client.get(target)
    assert resp.status_code == 200  # a page that moves on (same-site) to the sign-in form
    assert "Set-Cookie" not in resp.headers  # a SameSite cookie the browser holds survives
    refresh = re.search(r'http-equiv="refresh" content="0;url=([^"]+)"', resp.text)
    assert refresh is not None
    signin_url = refresh.group(1).replace("&amp;", "&")
    assert parse_qs(urlsplit(signin_url).query)["next"] == [target]
    form = client.get(signin_url)
    assert f'name="next" value="{target}"' in form.text.replace("&amp;", "&")
    resp = client.post("/signin", data={"csrf_token": csrf_of(form.text), "token": TOKEN,
                                        "next": target})
    assert resp.status_code == 303 and resp.headers["Location"] == target


def test_deep_link_with_a_stale_cookie_redirects_to_sign_in(client: FlaskClient) -> None:
    client.get("/")  # a cookie holding only the CSRF seed: no session
    resp = client.get("/alerts?cursor=1-0")
    assert resp.status_code == 302
    location = urlsplit(resp.headers["Location"])
    assert location.path == "/signin"
    assert parse_qs(location.query)["next"] == ["/alerts?cursor=1-0"]


def test_signed_in_sign_in_page_goes_to_next(client: FlaskClient) -> None:
    sign_in(client)
    resp = client.get("/signin?next=/alerts")
    assert resp.status_code == 303 and resp.headers["Location"] == "/alerts"


@pytest.mark.parametrize("target", [
    "https://evil.example/", "//evil.example/x", "/\\evil.example", "\\\\evil.example",
    "/\t/evil.example", "/%0a/evil.example\n", "javascript:alert(1)", "http:/evil.example",
    "evil.example", "/signout", "/signin?next=//evil.example", "/v1/summary", " /hosts",
    "/h\u00f6sts", "/" + "a" * 3000,
])
def test_next_never_leaves_the_site(client: FlaskClient, target: str) -> None:
    form = client.get("/signin", query_string={"next": target})
    assert form.status_code == 200
    resp = client.post("/signin", data={"csrf_token": csrf_of(form.text), "token": TOKEN,
                                        "next": target})
    assert resp.status_code == 303
    assert resp.headers["Location"] == "/", target


def test_the_cookie_is_refreshed_and_expires_after_idle(client: FlaskClient, rdb: redis.Redis,
                                                        keys: Keys) -> None:
    sign_in(client)
    (key,) = session_keys(rdb, keys)
    rdb.expire(key, 5)
    resp = client.get("/hosts")
    assert resp.status_code == 200
    assert rdb.ttl(key) > IDLE.total_seconds() - 60  # restarted by the page
    assert "expires=" in cookie_header(resp).lower()
    rdb.delete(key)  # what 12 h without use does
    assert client.get("/hosts").status_code == 302


@pytest.fixture
def two_token_app(settings: Settings) -> Iterator[Flask]:
    app = create_app(dataclasses.replace(settings, api_tokens=("alice:" + TOKEN,)))
    yield app
    app.extensions["collector"].ingestor.close()


def test_a_withdrawn_token_ends_its_sessions(two_token_app: Flask, settings: Settings) -> None:
    client = two_token_app.test_client()
    assert sign_in(client).status_code == 303
    assert "Signed in as" in client.get("/").text and "alice" in client.get("/").text
    cookie = client.get_cookie(COOKIE)
    assert cookie is not None
    # the same Redis, restarted with another token under the same name
    other = create_app(dataclasses.replace(settings, api_tokens=("alice:another-token-123",)))
    try:
        replay = other.test_client()
        replay.set_cookie(COOKIE, cookie.value)
        assert replay.get("/hosts").status_code == 302
    finally:
        other.extensions["collector"].ingestor.close()


def test_idle_lifetime_is_twelve_hours() -> None:
    assert timedelta(hours=12) == IDLE
