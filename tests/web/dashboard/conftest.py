"""Fixtures of the dashboard tests: a signed-in test client (WSGI), and for the browser tests
one headless Chromium per session and a real collector (gunicorn) fed over HTTP.

Chromium is Debian's (``/usr/bin/chromium``, installed by ``.ci/system-deps``, which
``make test`` runs first); without it the browser tests fail, they never skip.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.helpers import EXAMPLES, TOKEN, Served, send
from tests.web.dashboard import scenario

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
ANALYST = "alice"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found is not None, "no CSRF token in the page"
    return found.group(1)


def sign_in(client: FlaskClient, token: str = TOKEN, next_path: str | None = None) -> Any:
    """Open the sign-in form, then post ``token`` with the form's CSRF token."""
    form = client.get("/signin" + (f"?next={next_path}" if next_path else ""))
    data = {"csrf_token": csrf_of(form.text), "token": token}
    if next_path:
        data["next"] = next_path
    return client.post("/signin", data=data)


@pytest.fixture
def fed(pclient: FlaskClient) -> FlaskClient:
    """The public-root app's client with the incident and the hostile report aggregated."""
    send(pclient, *scenario.incident(), scenario.hostile())
    return pclient


@pytest.fixture
def analyst(fed: FlaskClient) -> FlaskClient:
    """A signed-in client (the token is named ``token-1``)."""
    assert sign_in(fed).status_code == 303
    return fed


# -- browser ---------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: the dashboard's browser tests need Debian's "
                    "chromium (run `bash .ci/system-deps` as root, or apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A real collector (two gunicorn workers) with the incident posted over HTTP."""
    served = Served(tmp_path_factory.mktemp("dashboard") / "data", env={
        "COLLECTOR_API_TOKENS": f"{ANALYST}:{TOKEN}",
        "COLLECTOR_PUBLIC_ROOTS": str(EXAMPLES / "public-root.pem"),
    })
    try:
        for body in [*scenario.incident(), scenario.hostile()]:
            raw = body if isinstance(body, bytes) else json.dumps(body).encode()
            ctype = "application/expect-ct-report+json" if b"expect-ct-report" in raw \
                else "application/json"
            status, answer = served.request("POST", "/v1/reports", raw,
                                            {"Content-Type": ctype})
            assert status == 204, answer
        yield served
    finally:
        served.stop()
