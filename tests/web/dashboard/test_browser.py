"""The dashboard in a real headless Chromium against a real collector (gunicorn, two workers)
fed over HTTP: an analyst's whole session, the hostile report, pages without JavaScript.

On every page: no console error, no uncaught exception, no CSP violation (a listener added
before any page script records ``securitypolicyviolation`` events), and an axe scan of the
WCAG 2.1 AA rules without serious or critical violations. The overview and host screenshots
in docs/screenshots/ are written by the journey test. A rotation is rehearsed from a host
page's form on builds of ``tests.rotation`` (on a host of their own).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from collector.intake.chains import spki_pin
from tests.helpers import CHROME_FP, TOKEN, Served
from tests.intel.pki import pem
from tests.rotation import Rotation, trustkit_doc
from tests.web.dashboard.conftest import ANALYST
from tests.web.dashboard.scenario import HOSTILE_HOST, IMG, SCRIPT

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[3]
SCREENSHOTS = REPO / "docs" / "screenshots"
SCREENSHOT_MAX = 200 * 1024
WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
VIEWPORT = {"width": 1280, "height": 900}
WATCH_CSP = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__csp.push(e.violatedDirective + " " + e.blockedURI);
});
"""


class Watch:
    """Everything a page must not do: console errors, page errors, CSP violations, dialogs."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.problems: list[str] = []
        self.dialogs: list[str] = []
        page.on("console", lambda m: self.problems.append(f"console {m.type}: {m.text}")
                if m.type == "error" else None)
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        page.on("dialog", self._dialog)

    def expected_status(self, status: int) -> None:
        """The page itself answered ``status`` on purpose (Chromium logs it as an error)."""
        note = f"the server responded with a status of {status}"
        found = [p for p in self.problems if note in p]
        assert len(found) == 1, self.problems
        self.problems.remove(found[0])

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def check(self) -> None:
        """After each page: nothing went wrong so far."""
        csp = self.page.evaluate("window.__csp || []")
        assert not csp, f"CSP violations on {self.page.url}: {csp}"
        assert not self.problems, f"on {self.page.url}: {self.problems}"
        assert not self.dialogs, f"a dialog opened on {self.page.url}: {self.dialogs}"


@pytest.fixture
def browse(chromium: Any, collector: Served) -> Iterator[tuple[Page, Watch]]:
    context = chromium.new_context(viewport=VIEWPORT,
                                   base_url=f"http://127.0.0.1:{collector.port}")
    context.add_init_script(WATCH_CSP)
    page = context.new_page()
    watch = Watch(page)
    try:
        yield page, watch
        watch.check()
    finally:
        context.close()


def accessible(page: Page) -> None:
    """axe-core, WCAG 2.0/2.1 A and AA rules: no serious or critical violation."""
    results = Axe().run(page, options={"runOnly": {"type": "tag", "values": WCAG},
                                       "resultTypes": ["violations"]})
    bad = [f"{v['id']} ({v['impact']}): {v['help']} at "
           f"{[n['target'] for n in v['nodes']][:3]}"
           for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
    assert not bad, f"{page.url}: {bad}"


def chart_drawn(page: Page, canvas_id: str) -> None:
    canvas = page.locator(f"canvas#{canvas_id}")
    expect(canvas).to_have_attribute("role", "img")
    label = canvas.get_attribute("aria-label") or ""
    assert label.startswith("Timeline of reports"), label
    page.wait_for_function(
        "id => window.Chart !== undefined && "
        "window.Chart.getChart(document.getElementById(id)) !== undefined", arg=canvas_id)


def checked(page: Page, watch: Watch) -> None:
    """The page loaded clean and passes axe."""
    page.wait_for_load_state("load")
    watch.check()
    accessible(page)
    watch.check()


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    assert path.stat().st_size < SCREENSHOT_MAX, f"{path} is {path.stat().st_size} bytes"


def submit_sign_in(page: Page, token: str) -> int:
    page.fill("#token", token)
    with page.expect_navigation() as nav:
        page.get_by_role("button", name="Sign in").click()
    response = nav.value
    return response.status if response is not None else 0


def sign_in(page: Page) -> None:
    page.goto("/signin")
    assert submit_sign_in(page, TOKEN) == 200


def chains_row(page: Page, label_text: str) -> Any:
    return page.locator("table.chains tbody tr", has_text=label_text).first


def test_analyst_session(browse: tuple[Page, Watch], collector: Served) -> None:
    page, watch = browse

    # sign-in: a bad token first, then the good one
    assert page.goto("/").status == 200
    expect(page.locator("input[type=password]")).to_have_count(1)
    checked(page, watch)
    assert submit_sign_in(page, "not-the-token") == 401
    watch.expected_status(401)
    expect(page.get_by_role("alert")).to_contain_text("not valid")
    checked(page, watch)
    assert submit_sign_in(page, TOKEN) == 200

    # overview: losing service first, totals, classes, chart, recent alerts
    expect(page.get_by_role("heading", name="Users are losing service now")).to_be_visible()
    expect(page.locator(".banner-bad table")).to_contain_text("api.example.com")
    expect(page.locator(".tiles")).to_contain_text("devices losing service now")
    for cls in ("public-trust", "interception-tool", "tls-inspection", "unknown"):
        expect(page.locator(".badge", has_text=cls).first).to_be_visible()
    chart_drawn(page, "timeline-all")
    expect(page.get_by_role("heading", name="Recent alerts")).to_be_visible()
    checked(page, watch)
    screenshot(page, "overview")

    # hosts, then the host page from its link
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Hosts").click()
    expect(page.get_by_role("heading", name="Hosts", exact=True)).to_be_visible()
    checked(page, watch)
    page.get_by_role("link", name="api.example.com", exact=True).first.click()
    expect(page.get_by_role("heading", name="api.example.com", exact=True)).to_be_visible()
    chart_drawn(page, "timeline-host")
    expect(page.locator(".readiness")).to_contain_text("devices losing service now")
    expect(page.locator("#rec-trustkit")).to_contain_text("kTSKPublicKeyHashes")
    checked(page, watch)
    screenshot(page, "host")

    # host -> chain -> host
    chains_row(page, "public-trust").locator(f"a[title='{CHROME_FP}']").click()
    expect(page.get_by_role("heading", name="Certificates, leaf first")).to_be_visible()
    expect(page.locator("table.certs")).to_contain_text("CN=api.example.com")
    chart_drawn(page, "timeline-chain")
    checked(page, watch)
    page.locator("table.data").first.get_by_role("link", name="api.example.com").click()
    expect(page.get_by_role("heading", name="api.example.com", exact=True)).to_be_visible()

    # triage from the host page: acknowledge the tester's proxy, ignore the debug proxy
    row = chains_row(page, "mitmproxy")
    row.locator("input[name=note]").fill("our tester's phone")
    assert row.locator("input[name=csrf_token]").get_attribute("value")
    row.get_by_role("button", name="Acknowledge").click()
    expect(page.get_by_role("status")).to_contain_text("acknowledged")
    row = chains_row(page, "mitmproxy")
    expect(row.locator(".state")).to_have_text("acknowledged")
    expect(row).to_contain_text("our tester's phone")
    expect(row).to_contain_text(f"by {ANALYST}")
    checked(page, watch)
    debug = page.locator("table.chains tbody tr", has=page.locator(".cls-unknown")).first
    debug.get_by_role("button", name="Ignore").click()
    expect(page.get_by_role("heading", name="Ignored chains")).to_be_visible()
    expect(page.locator("section", has=page.get_by_role("heading", name="Ignored chains"))
           .locator(".state")).to_have_text("ignored")
    checked(page, watch)
    status, body = collector.request("GET", "/v1/triage/audit",
                                     headers={"Authorization": f"Bearer {TOKEN}"})
    audit = json.loads(body)["items"]
    assert status == 200 and [(a["state"], a["by"]) for a in audit] == [
        ("ignored", ANALYST), ("acknowledged", ANALYST)]

    # alerts, with the triage state
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Alerts").click()
    expect(page.get_by_role("heading", name="Alerts", exact=True)).to_be_visible()
    expect(page.locator("table.data")).to_contain_text("New public-trust chain")
    expect(page.locator("table.data .state-acknowledged").first).to_be_visible()
    checked(page, watch)

    # sign-out; a deep link leads through sign-in back to that page
    page.get_by_role("button", name="Sign out").click()
    expect(page.locator("input[type=password]")).to_be_visible()
    checked(page, watch)
    page.goto("/hosts/api.example.com?last=7d")
    page.wait_for_url("**/signin?next=**")
    expect(page.locator("input[type=password]")).to_be_visible()
    assert submit_sign_in(page, TOKEN) == 200
    assert page.url.endswith("/hosts/api.example.com?last=7d")
    expect(page.get_by_role("heading", name="api.example.com", exact=True)).to_be_visible()
    checked(page, watch)


def test_hostile_report_is_inert(browse: tuple[Page, Watch]) -> None:
    page, watch = browse
    sign_in(page)
    page.goto(f"/hosts/{HOSTILE_HOST}")
    expect(page.locator("td", has_text=SCRIPT).first).to_be_visible()
    expect(page.locator("td", has_text=IMG).first).to_be_visible()
    assert page.locator("img").count() == 0
    assert page.locator("script:not([src]):not([type='application/json'])").count() == 0
    checked(page, watch)
    page.locator("table.chains a.mono").first.click()
    expect(page.locator("table.certs")).to_contain_text("alert(1)")
    assert page.locator("img").count() == 0
    checked(page, watch)
    for path in ("/", "/hosts", "/alerts"):
        page.goto(path)
        checked(page, watch)
    assert watch.dialogs == []


def test_pages_work_without_javascript(chromium: Any, collector: Served) -> None:
    context = chromium.new_context(viewport=VIEWPORT, java_script_enabled=False,
                                   base_url=f"http://127.0.0.1:{collector.port}")
    try:
        page = context.new_page()
        sign_in(page)
        page.goto("/hosts/api.example.com")
        fallback = page.locator("canvas#timeline-host table.fallback")
        expect(fallback).to_be_visible()
        expect(fallback).to_contain_text("Reports per")
        page.goto(f"/chains/{CHROME_FP}")
        expect(page.locator("table.certs")).to_contain_text("CN=api.example.com")
    finally:
        context.close()


ROTATE_HOST = "rotate.example.com"


def test_rehearse_a_rotation_from_the_host_page(browse: tuple[Page, Watch],
                                                collector: Served) -> None:
    rot = Rotation()
    for version, platform, pins, devices in rot.builds():
        for i in range(devices):
            doc = trustkit_doc(version, platform, pins, f"{platform}-{version}-{i}",
                               host=ROTATE_HOST)
            status, answer = collector.request("POST", "/v1/reports", json.dumps(doc).encode(),
                                               {"Content-Type": "application/json"})
            assert status == 204, answer
    page, watch = browse
    sign_in(page)
    page.goto(f"/hosts/{ROTATE_HOST}")
    expect(page.get_by_role("heading", name="Pins in the field")).to_be_visible()
    panel = page.locator("table.field-pins")
    expect(panel.locator("tbody.build")).to_have_count(4)
    expect(panel).to_contain_text("3.0 · ANDROID")
    expect(panel.locator("code.pin", has_text=spki_pin(rot.int_b))).to_have_count(1)
    checked(page, watch)

    # paste another CA's chain: the versions without a pin for it fail, first and in red
    page.get_by_label("Candidate chain (PEM)").fill(rot.other_ca.decode())
    with page.expect_navigation() as nav:
        page.get_by_role("button", name="Rehearse").click()
    assert nav.value is not None and nav.value.status == 200
    # (devices are sketch counts under this collector's generated device secret: about 17)
    expect(page.locator("#verdict-title")).to_have_text(
        re.compile(r"1[5-9] devices on 3 versions would fail"))
    failing = page.locator("#would-fail tbody tr")
    expect(failing).to_have_count(3)
    found = {(row.locator("td").nth(1).inner_text(), row.locator("td").nth(2).inner_text())
             for row in failing.all()}
    assert found == {("1.0", "IOS"), ("2.0", "IOS"), ("3.0", "ANDROID")}
    expect(page.locator("#would-accept tbody tr")).to_have_count(1)
    expect(page.locator("#next-trustkit")).to_contain_text(spki_pin(rot.leaf_b))
    expect(page.locator("#next-nsc")).to_contain_text(f">{spki_pin(rot.int_b)}</pin>")
    expect(page.get_by_label("Candidate chain (PEM)")).to_have_value("")
    checked(page, watch)

    # a private key: a 422 page with the fixed alert, the upload not echoed
    marker = "MARKER-in-the-upload"
    page.get_by_label("Candidate chain (PEM)").fill(
        pem(rot.leaf_b).decode() + f"-----BEGIN PRIVATE KEY-----\n{marker}\n"
        "-----END PRIVATE KEY-----\n")
    with page.expect_navigation() as nav:
        page.get_by_role("button", name="Rehearse").click()
    assert nav.value is not None and nav.value.status == 422
    watch.expected_status(422)
    expect(page.get_by_role("alert")).to_contain_text("never upload a private key")
    assert marker not in page.content()
    checked(page, watch)
