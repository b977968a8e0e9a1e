"""The host page's "Pins in the field" panel and its rotation rehearsal form (SPEC section 12)
at the WSGI level: builds posted as their devices send them (``tests.rotation``), the panel's
figures and ready-to-copy forms, rehearsals listing exactly the failing versions, and
hostile uploads refused with a 4xx page that echoes nothing and stores nothing."""

from __future__ import annotations

import datetime
import html
import io
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any

import pytest
import redis
from flask import Flask, render_template
from flask.testing import FlaskClient

from collector.config import Settings
from collector.intake.bundle import MAX_BUNDLE_BYTES
from collector.intake.chains import spki_pin
from collector.web.dashboard import field_pins
from tests.helpers import snapshot, spool_files
from tests.intel.pki import pem
from tests.rotation import HOST, OFFLINE_BACKUP, Rotation
from tests.web.dashboard.conftest import csrf_of, sign_in
from tests.web.field import field_client

PAGE = f"/hosts/{HOST}"
ROUTE = f"/hosts/{HOST}/rehearsal"
TODAY = datetime.datetime.now(datetime.UTC).date()
SOON = (TODAY + datetime.timedelta(days=10)).isoformat()
EXPIRED = "2020-01-01"
MARKER = "MARKER-upload-text"


@pytest.fixture(scope="module")
def rot() -> Rotation:
    return Rotation()


def extra_builds(rot: Rotation) -> list[tuple[str, str, list[str], int, str]]:
    """Besides ``Rotation.builds`` (pins expiring 2027-06-01): one build whose pin set has
    expired (not enforced: it accepts any chain) and one expiring within the alert's days."""
    return [("0.9", "IOS", [spki_pin(rot.leaf_a1), OFFLINE_BACKUP], 2, EXPIRED),
            ("1.5", "IOS", [spki_pin(rot.int_a)], 3, SOON)]


@pytest.fixture
def field(settings: Settings, rot: Rotation) -> Iterator[FlaskClient]:
    """A signed-in client of the app (trusting CA A's root) with the builds posted."""
    builds = [(*b, "2027-06-01") for b in rot.builds()] + extra_builds(rot)
    client = field_client(settings, rot, builds)
    assert sign_in(client).status_code == 303
    yield client
    client.application.extensions["collector"].ingestor.close()


class Tables(HTMLParser):
    """The text of each cell of each table, by table id: ``{id: [[cell, ...], ...]}``."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._table: str | None = None
        self._cell: list[str] | None = None
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._table = dict(attrs).get("id") or f"table-{len(self.tables)}"
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._table is not None and self._cell is not None:
            self.tables[self._table][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def rows(page: str, table_id: str) -> list[list[str]]:
    return Tables(page).tables.get(table_id, [])[1:]  # without the header row


def builds_of(page: str, table_id: str) -> set[tuple[str, str]]:
    """(version, platform) of each row of a results table."""
    return {(r[1], r[2]) for r in rows(page, table_id)}


def token(client: FlaskClient) -> str:
    """The form's CSRF token, valid for the session. Read it before a Redis snapshot: the page
    counts devices with PFCOUNT, which refreshes the HyperLogLogs' cached counts in place."""
    return csrf_of(client.get(PAGE).text)


def form(client: FlaskClient, chain: str = "", file: bytes | None = None,
         csrf: str | None = None, path: str = ROUTE) -> Any:
    """Submit the host page's rehearsal form as a browser does (multipart, CRLF lines)."""
    data: dict[str, Any] = {"chain": chain.replace("\n", "\r\n")}
    data["csrf_token"] = csrf if csrf is not None else token(client)
    data["chain_file"] = (io.BytesIO(file or b""), "chain.pem" if file is not None else "")
    return client.post(path, data=data, content_type="multipart/form-data")


def test_panel_lists_the_builds_in_the_field(field: FlaskClient, rot: Rotation) -> None:
    page = field.get(PAGE)
    assert page.status_code == 200
    text = page.text
    panel = text[text.index('id="field-pins-title"'):text.index('id="rehearse-title"')]
    builds = [" ".join(html.unescape(re.sub(r"<[^>]+>", " ", cell)).split())
              for cell in re.findall(r'<th scope="rowgroup"[^>]*>(.*?)</th>', panel, re.S)]
    assert builds == [  # most devices first
        "com.example.app 3.0 · IOS 12 devices", "com.example.app 2.0 · IOS 8 devices",
        "com.example.app 1.0 · IOS 5 devices", "com.example.app 3.0 · ANDROID 4 devices",
        "com.example.app 1.5 · IOS 3 devices", "com.example.app 0.9 · IOS 2 devices",
    ], builds
    assert "6 app versions on 34 devices" in panel
    for pin in {spki_pin(c) for c in (rot.leaf_a1, rot.int_a, rot.root_a, rot.int_b)}:
        assert f'<code class="pin">{pin}</code>' in panel
    # expiry: flagged against COLLECTOR_ALERT_PIN_EXPIRY_DAYS (30 by default)
    assert "1 pin set expired: not enforced" in panel
    assert "1 expiring within 30 d" in panel
    assert re.search(r'expiry-bad">2020-01-01<div class="small">expired \d+ d ago', panel)
    assert re.search(rf'expiry-warn">{SOON}<div class="small">expires in 10 d', panel)
    assert panel.count('expiry-ok">2027-06-01') == 4
    # first and last seen, in UTC and relative, as the other tables
    assert panel.count("<time datetime=") == 12
    assert 'UTC</time> <span class="age">(just now)' in panel
    # ready to copy: TrustKit and Android forms, inside <details>
    copies = html.unescape(panel)
    assert copies.count("<details class=\"copy\">") == 6
    assert f'@"{spki_pin(rot.int_b)}",' in copies
    assert f'<pin digest="SHA-256">{spki_pin(rot.int_b)}</pin>' in copies
    assert '<pin-set expiration="2027-06-01">' in copies
    assert "No backup pin" in panel  # 3.0 ANDROID and 1.5 pin one key only
    # the form
    assert '<label for="rehearse-chain">Candidate chain (PEM)</label>' in text
    assert re.search(r'<textarea id="rehearse-chain" name="chain"[^>]*></textarea>', text)
    assert f'action="{ROUTE}"' in text and 'enctype="multipart/form-data"' in text


def test_panel_follows_the_window(field: FlaskClient) -> None:
    text = field.get(PAGE + "?until=2001-01-01T00:00:00Z").text
    assert "No app build reported pins for this host in this window." in text
    assert f'action="{ROUTE}?until=2001-01-01T00:00:00Z"' in html.unescape(text)


def test_rehearsal_lists_exactly_the_failing_versions(
        field: FlaskClient, rot: Rotation, rdb: redis.Redis, settings: Settings) -> None:
    csrf = token(field)
    before, spooled = snapshot(rdb), spool_files(settings)
    resp = form(field, rot.other_ca.decode(), csrf=csrf)
    assert resp.status_code == 200, resp.text[:300]
    text = resp.text
    assert builds_of(text, "would-fail") == {("1.0", "IOS"), ("2.0", "IOS"), ("3.0", "ANDROID"),
                                             ("1.5", "IOS")}
    assert builds_of(text, "would-accept") == {("3.0", "IOS"), ("0.9", "IOS")}
    assert text.index('id="would-fail"') < text.index('id="would-accept"')
    assert "20 devices on 4 versions would fail" in text
    assert "banner-bad" in text
    # the failing table: most devices first, every device of those builds fails
    assert [(r[1], r[3], r[4]) for r in rows(text, "would-fail")] == [
        ("2.0", "8", "8"), ("1.0", "5", "5"), ("3.0", "4", "4"), ("1.5", "3", "3")]
    verdicts = {r[1]: r[4].split()[0] for r in rows(text, "would-accept")}
    assert verdicts == {"3.0": "pass", "0.9": "not-enforced"}
    # the pins to add, and the next release ready to copy
    added = [r[1].split()[0] for r in rows(text, "pins-to-add")]
    assert added == [spki_pin(rot.leaf_b), spki_pin(rot.int_b)]
    copies = html.unescape(text)
    for pin in (spki_pin(rot.leaf_b), spki_pin(rot.int_b), spki_pin(rot.leaf_a1)):
        assert f'@"{pin}",' in copies and f'<pin digest="SHA-256">{pin}</pin>' in copies
    assert "does not verify to a public root" in text  # CA B is not in the trust store
    assert re.search(r'<textarea id="rehearse-chain" name="chain"[^>]*></textarea>', text)
    assert snapshot(rdb) == before and spool_files(settings) == spooled


def test_rehearsal_of_other_chains(field: FlaskClient, rot: Rotation, rdb: redis.Redis) -> None:
    csrf = token(field)
    before = snapshot(rdb)
    same = form(field, rot.same_ca.decode(), csrf=csrf)
    assert same.status_code == 200
    assert builds_of(same.text, "would-fail") == {("1.0", "IOS")}
    assert "5 devices on 1 version would fail" in same.text
    current = form(field, file=rot.current, csrf=csrf)  # the chain served today, as a file
    assert current.status_code == 200
    assert rows(current.text, "would-fail") == [] and 'id="would-fail"' not in current.text
    assert "Every app version seen (6) would accept this chain" in current.text
    assert "banner-ok" in current.text
    old = form(field, rot.other_ca.decode(), csrf=csrf,
               path=ROUTE + "?until=2001-01-01T00:00:00Z")
    assert "No app version was seen in this window: nothing to judge" in old.text
    assert form(field, rot.current.decode(), csrf=csrf,
                path="/hosts/never.example.com/rehearsal").status_code == 404
    back = field.get(ROUTE + "?last=7d")
    assert back.status_code == 303
    assert back.headers["Location"] == f"{PAGE}?last=7d#rehearse"
    assert snapshot(rdb) == before


def test_hostile_uploads_get_a_4xx_page_echo_nothing_and_store_nothing(
        field: FlaskClient, rot: Rotation, rdb: redis.Redis, settings: Settings) -> None:
    leaf = pem(rot.leaf_a1).decode()
    body_text = leaf.splitlines()[3]  # a line of the certificate's base64
    private = (pem(rot.leaf_b).decode() + "-----BEGIN PRIVATE KEY-----\n"
               + MARKER + "\n-----END PRIVATE KEY-----\n")
    cases: list[tuple[str, bytes | None, int, str]] = [
        (f"{MARKER} plain words", None, 422, "The chain must hold 1 to 10 certificates."),
        ('{"not": "pem"}', None, 422, "The chain must hold 1 to 10 certificates."),
        ("", private.encode(), 422, "never upload a private key"),
        (private, None, 422, "never upload a private key"),
        (leaf * 11, None, 422, "The chain must hold 1 to 10 certificates."),
        (leaf + MARKER, None, 422, "The chain holds text outside its PEM blocks."),
        (leaf.replace("\n", "\n" + MARKER, 1), None, 422, "not well-formed"),
        (f"é {MARKER}", None, 422, "The chain is not PEM text."),
        ("", b"", 422, "Paste a chain, or choose a PEM file."),
        (leaf, leaf.encode(), 422, "not both"),
        (MARKER * (70 * 1024 // len(MARKER)), None, 413, "larger than 64 KiB"),
        ("", (MARKER * (70 * 1024 // len(MARKER))).encode(), 413, "larger than 64 KiB"),
        ("", (MARKER * 60_000).encode(), 413, "at most 64 KiB"),  # past the form's cap
    ]
    assert len(cases[10][0]) > MAX_BUNDLE_BYTES
    csrf = token(field)
    before, spooled = snapshot(rdb), spool_files(settings)
    for chain, file, status, message in cases:
        resp = form(field, chain, file, csrf=csrf)
        assert resp.status_code == status, (chain[:40], resp.status_code)
        text = resp.text
        assert message in text, (chain[:40], text[-1500:])
        assert resp.mimetype == "text/html"
        assert 'role="alert"' in text or "error-page" in text  # the form's alert, or a 413 page
        assert MARKER not in text and body_text not in text and "PRIVATE" not in text
        assert len(resp.data) < 20_000
        assert "unsafe-inline" not in resp.headers["Content-Security-Policy"]
    assert snapshot(rdb) == before and spool_files(settings) == spooled


def test_rehearsal_needs_a_valid_csrf_token_and_a_session(
        field: FlaskClient, rot: Rotation, rdb: redis.Redis, settings: Settings) -> None:
    valid = token(field)
    before, spooled = snapshot(rdb), spool_files(settings)
    for csrf in ("", "forged." + "x" * 40):
        resp = form(field, rot.other_ca.decode(), csrf=csrf)
        assert resp.status_code == 400
        assert "This form has expired" in resp.text and 'id="would-fail"' not in resp.text
    stranger = field.application.test_client()  # no session: its CSRF check fails first
    resp = form(stranger, rot.other_ca.decode(), csrf=valid)
    assert resp.status_code == 400 and "would fail" not in resp.text
    assert snapshot(rdb) == before and spool_files(settings) == spooled


def test_panel_is_capped_with_n_more(app: Flask) -> None:
    """Past MAX_BUILDS builds and MAX_PIN_SETS pin sets per build, "N more" lines."""
    pin_set = {"pins": [OFFLINE_BACKUP], "expiration": None, "days_to_expiry": None,
               "has_backup_pin": False, "devices": 1, "reports": 2, "first_seen": None,
               "last_seen": None, "trustkit": {"kTSKPublicKeyHashes": [OFFLINE_BACKUP]},
               "android_nsc": "<pin-set></pin-set>"}
    versions = [{"app_id": "com.example.app", "app_version": f"1.{n}", "platform": "IOS",
                 "devices": 30 - n, "reports": 3, "first_seen": None, "last_seen": None,
                 "pin_sets": [pin_set] * (field_pins.MAX_PIN_SETS + 2 if n == 0 else 1)}
                for n in range(field_pins.MAX_BUILDS + 5)]
    doc = {"hostname": HOST, "devices": 99, "reports": 75, "versions": versions,
           "more": {"reports": 7, "pin_sets_all_time": 3}}
    panel = field_pins.panel(doc, 30)
    assert panel is not None
    assert (len(panel.builds), panel.more_builds, panel.more_builds_reports) == (20, 5, 15)
    assert len(panel.builds[0].pin_sets) == 4 and panel.builds[0].more_pin_sets == 2
    with app.test_request_context(PAGE):
        text = render_template("host_field_pins.html", field=panel, doc={"hostname": HOST})
    assert text.count('<tbody class="build">') == 20
    assert "2 more pin sets of this build" in text
    assert "5 more app versions (15 reports)" in text
    assert "Plus 7 reports of builds past the per-host cap" in text
    assert "25 app versions on 99 devices" in text
    assert field_pins.panel(None, 30) is None


@pytest.mark.parametrize(("days", "level", "text"), [
    (None, "none", "no expiration date"), (-3, "bad", "expired 3 d ago: no longer enforced"),
    (0, "warn", "expires today"), (30, "warn", "expires in 30 d"), (31, "ok", "in 31 d")])
def test_expiry_flags(days: int | None, level: str, text: str) -> None:
    assert field_pins.expiry(days, 30) == field_pins.Expiry(level, text)
