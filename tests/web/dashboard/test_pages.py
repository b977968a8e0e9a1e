"""The pages at the WSGI level: each renders the views' figures, keeps the window in its links,
answers malformed queries with a 400 page and unknown things with a 404 page, escapes every
report-derived string, and carries the security headers. The JSON API is untouched."""

from __future__ import annotations

import dataclasses
import html
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from markupsafe import escape

from collector import create_app
from collector.config import Settings
from collector.web.dashboard.security import CSP
from tests.helpers import CHROME_FP, IOS_FP, TOKEN, auth, send_golden
from tests.web.dashboard import scenario
from tests.web.dashboard.conftest import sign_in

HOST = "api.example.com"
PAGES = ["/", "/hosts", f"/hosts/{HOST}", f"/chains/{CHROME_FP}",
         f"/chains/{CHROME_FP}?host={HOST}", "/alerts", "/hosts?classification=public-trust",
         "/hosts?sort=last_seen", "/?last=24h", "/hosts?last=7d", f"/hosts/{HOST}?last=30d",
         f"/chains/{IOS_FP}?last=90d", "/?since=2026-01-01T00:00&until=",
         f"/hosts/{HOST}?interval=day", "/?since=2020-01-01T00:00:00Z&until=2020-01-02T00:00:00Z"]
REQUIRED_CSP = ["default-src 'self'", "script-src 'self'", "style-src 'self'",
                "img-src 'self' data:", "frame-ancestors 'none'", "base-uri 'none'",
                "form-action 'self'"]


def assert_secure_headers(resp: object, path: str) -> None:
    headers = resp.headers  # type: ignore[attr-defined]
    csp = headers.get("Content-Security-Policy", "")
    for directive in REQUIRED_CSP:
        assert directive in csp, (path, directive)
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert headers.get("X-Content-Type-Options") == "nosniff", path
    assert headers.get("Referrer-Policy") == "same-origin", path
    assert headers.get("X-Frame-Options") == "DENY", path


def no_inline_code(page: str) -> None:
    """No inline script (only JSON data blocks), no style attribute or element, no handler."""
    for tag in re.findall(r"<script\b[^>]*>", page):
        assert 'type="application/json"' in tag or " src=" in tag, tag
    assert "<style" not in page
    assert not re.search(r"\sstyle=", page)
    assert not re.search(r"<[^>]+\son[a-z]+=", page)


def test_every_page_renders_with_the_golden_reports(pclient: FlaskClient) -> None:
    send_golden(pclient)
    sign_in(pclient)
    for path in PAGES:
        resp = pclient.get(path)
        assert resp.status_code == 200, (path, resp.text[:500])
        assert resp.mimetype == "text/html"
        assert_secure_headers(resp, path)
        assert resp.headers["Cache-Control"] == "no-store"
        assert re.search(r"app;dur=[0-9.]+", resp.headers["Server-Timing"])
        no_inline_code(resp.text)


def test_overview_shows_losing_service_first(analyst: FlaskClient) -> None:
    page = analyst.get("/").text
    assert page.index("Users are losing service now") < page.index("Reports over time")
    banner = page[page.index("banner-bad"):page.index("</section>", page.index("banner-bad"))]
    assert f">{HOST}</a>" in banner
    for cls in ("public-trust", "interception-tool", "tls-inspection", "unknown"):
        assert f'class="badge cls-{cls}"' in page and f">{cls}</span>" in page
    assert 'role="img"' in page and 'aria-label="Timeline of reports on all hosts' in page
    assert "New public-trust chain" in page  # recent alerts


def test_host_page_has_pairs_readiness_pins_and_triage(analyst: FlaskClient) -> None:
    page = analyst.get(f"/hosts/{HOST}").text
    text = html.unescape(page)
    assert "public-trust" in text and "Example Public Root R1" in text
    assert "interception-tool" in text and "mitmproxy" in text
    assert re.search(r"readiness.*?tile-value\">2<.*?devices losing service now", page, re.S)
    assert re.search(r"tile-value\">4<.*?devices at risk", page, re.S)
    assert "2.5.0" in text and "4.2.0" in text
    assert "kTSKPublicKeyHashes" in text and '<pin-set expiration=' in text
    assert "FkcecKS4/1ezi5+WULXkgClhPhZo/2FBIMxCLuirxuY=" in text
    assert "No backup pin" in text or "Has a backup pin" in text
    assert text.count('name="state" value="acknowledged"') == 3  # one per chain
    assert 'aria-label="Timeline of reports for api.example.com' in page
    assert 'id="timeline-host-data"' in page


def test_chain_page_has_certificates_hosts_and_pins(analyst: FlaskClient) -> None:
    text = html.unescape(analyst.get(f"/chains/{CHROME_FP}").text)
    assert "CN=api.example.com" in text
    assert "C=US,O=Example Trust Services,CN=Example Issuing CA E1" in text
    assert "GOWj8Bj2g13KpNcl+TelAozf8VPSUV6b9FWJx728SXI=" in text
    assert "cdn.example.net" in text and "leaf does not cover this host" in text
    assert "-----BEGIN CERTIFICATE-----" in text


def test_links_keep_the_window(analyst: FlaskClient) -> None:
    page = analyst.get("/hosts?last=7d").text
    assert f'href="/hosts/{HOST}?last=7d"' in page
    assert 'href="/alerts?last=7d"' in page
    assert 'aria-current="true">Last 7 d' in page


def test_hosts_filtered_by_class(analyst: FlaskClient) -> None:
    def listed(query: str) -> set[str]:
        page = analyst.get(f"/hosts?{query}").text
        return set(re.findall(r'<td><a href="/hosts/([^"?]+)', page))

    assert listed("classification=public-trust") == {HOST}
    assert listed("classification=tls-inspection") == {"login.example.com"}
    assert HOST in listed("classification=unknown")
    assert "cdn.example.net" in listed("classification=unknown")
    assert len(listed("")) == 4


def test_hosts_pages_by_cursor(papp_small_pages: FlaskClient) -> None:
    client = papp_small_pages
    seen: list[str] = []
    path = "/hosts"
    for _ in range(10):
        page = client.get(path).text
        seen += re.findall(r'<td><a href="/hosts/([^"?]+)', page)
        found = re.search(r'href="([^"]*cursor=[^"]+)" rel="next"', page)
        if found is None:
            break
        path = html.unescape(found.group(1))
    assert len(seen) == len(set(seen)) == 4


@pytest.fixture
def papp_small_pages(analyst: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> FlaskClient:
    from collector.web.dashboard import params

    monkeypatch.setattr(params, "PAGE_SIZE", 2)
    return analyst


@pytest.mark.parametrize("path", [
    "/?since=yesterday", "/?last=1y", "/?last=7d&since=2026-01-01", "/hosts?sort=nope",
    "/hosts?classification=evil", "/hosts?cursor=bm9wZQ", "/alerts?cursor=0-0",
    "/alerts?cursor=abc", f"/hosts/{HOST}?interval=week", "/?since=2026-02-01&until=2026-01-01",
    f"/chains/{CHROME_FP}?host=not%20a%20host", "/?since=0001-01-01T00:00:00+23:59",
])
def test_bad_query_is_a_400_page(analyst: FlaskClient, path: str) -> None:
    resp = analyst.get(path)
    assert resp.status_code == 400, path
    assert resp.mimetype == "text/html"
    assert "Bad request" in resp.text
    assert_secure_headers(resp, path)
    for echoed in ("yesterday", "nope", "evil", "week", "not a host"):
        assert echoed not in resp.text.replace("evil.example", "")


@pytest.mark.parametrize("path", [
    "/hosts/nothing.example", "/hosts/-bad-", f"/chains/{'0' * 64}", "/chains/xyz",
    f"/chains/{CHROME_FP}?host=nothing.example", "/nope", "/static/nope.css", "/hosts/a/b",
])
def test_unknown_is_a_404_page(analyst: FlaskClient, path: str) -> None:
    resp = analyst.get(path)
    assert resp.status_code == 404, path
    assert resp.mimetype == "text/html"
    assert "Not found" in resp.text
    assert_secure_headers(resp, path)


def test_unknown_path_without_a_session_is_a_404_page(client: FlaskClient) -> None:
    resp = client.get("/wp-login.php")
    assert resp.status_code == 404 and resp.mimetype == "text/html"
    assert "wp-login" not in resp.text
    assert_secure_headers(resp, "/wp-login.php")


def test_the_api_and_probes_are_unchanged(client: FlaskClient) -> None:
    for path, status in (("/v1/nope", 404), ("/v1/summary", 401), ("/metrics", 200),
                         ("/healthz", 200), ("/v1", 404)):
        resp = client.get(path)
        assert resp.status_code == status, path
        assert "Content-Security-Policy" not in resp.headers
        assert "Set-Cookie" not in resp.headers
        if status >= 400:
            assert resp.mimetype == "application/problem+json"
    resp = client.get("/v1/reports")
    assert resp.status_code == 405 and resp.mimetype == "application/problem+json"
    assert client.get("/v1/summary", headers=auth()).status_code == 200


def test_hostile_report_is_escaped_everywhere(analyst: FlaskClient) -> None:
    pages = ["/", "/hosts", f"/hosts/{scenario.HOSTILE_HOST}", "/alerts"]
    host = analyst.get(f"/hosts/{scenario.HOSTILE_HOST}").text
    fp = re.search(r'href="/chains/([0-9a-f]{64})\?host=evil.example"', host)
    assert fp is not None
    pages.append(f"/chains/{fp.group(1)}")
    for path in pages:
        page = analyst.get(path).text
        assert "<script>alert" not in page and "<img" not in page, path
        no_inline_code(page)  # no tag carries an on...= attribute
    assert str(escape(scenario.SCRIPT)) in host  # shown, as text
    assert str(escape(scenario.IMG)) in host
    chain = analyst.get(f"/chains/{fp.group(1)}").text
    assert "&lt;script&gt;alert(1)" in chain or "\\&lt;script\\&gt;" in chain


def test_favicon_and_static_files(client: FlaskClient) -> None:
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.data[:4] == b"\x00\x00\x01\x00"
    assert icon.headers["X-Content-Type-Options"] == "nosniff"
    for name, kind in (("dashboard.css", "text/css"), ("dashboard.js", "text/javascript"),
                       ("vendor/chart.js-4.6.1/chart.umd.min.js", "text/javascript")):
        resp = client.get(f"/static/{name}")
        assert resp.status_code == 200 and resp.mimetype == kind, name
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        resp.close()


@pytest.fixture
def dead_redis(settings: Settings, tmp_path: Path) -> Iterator[FlaskClient]:
    app = create_app(dataclasses.replace(settings, redis_url=f"unix://{tmp_path}/none.sock"))
    yield app.test_client()
    app.extensions["collector"].ingestor.close(timeout=1)


def test_redis_down_is_a_503_page(dead_redis: FlaskClient) -> None:
    form = dead_redis.get("/")
    assert form.status_code == 200  # the sign-in form needs no Redis
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token is not None
    resp = dead_redis.post("/signin", data={"csrf_token": token.group(1), "token": TOKEN})
    assert resp.status_code == 503 and resp.mimetype == "text/html"
    assert "Storage unavailable" in resp.text and resp.headers["Retry-After"]
    assert_secure_headers(resp, "/signin")


def test_pages_list_every_class() -> None:
    from collector.aggregates.read.params import CLASSES
    from collector.web.dashboard.display import CLASS_MEANING, CLASS_ORDER

    assert sorted(CLASS_ORDER) == sorted(CLASSES) == sorted(CLASS_MEANING)


def test_csp_is_the_one_documented() -> None:
    for directive in REQUIRED_CSP:
        assert directive in CSP


def test_chain_page_lists_the_most_reported_hosts(analyst: FlaskClient,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from collector.web.dashboard import pages

    monkeypatch.setattr(pages, "CHAIN_HOSTS", 1)
    text = html.unescape(analyst.get(f"/chains/{CHROME_FP}").text)
    assert f">{HOST}</a>" in text and "cdn.example.net" not in text
    assert "1 more are not" in text
    full = analyst.get(f"/v1/chains/{CHROME_FP}", headers=auth()).json
    assert "hosts_not_listed" not in full and len(full["hosts"]) == 2
