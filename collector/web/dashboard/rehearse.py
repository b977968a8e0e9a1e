"""Rotation rehearsal from the host page (SPEC section 12): ``POST /hosts/<h>/rehearsal``
with a candidate chain pasted into the ``chain`` textarea or chosen as a file
(``chain_file``), answered by a results page listing the app versions that would refuse it
first, then those that accept it, and the pins to ship in the next release.

Read-only, like ``POST /v1/hosts/<h>/rehearsal`` (the same ``rehearsal_doc``): nothing is
stored. The gate checked CSRF and the session and capped the body (``forms.FORM_MAX_BYTES``)
before anything was parsed. Refusals render the form again with a fixed message
(``role="alert"``): 413 past MAX_BUNDLE_BYTES, 422 for anything but one to ten PEM
certificates (``BundleError``'s own fixed text); the textarea is always rendered empty, so
no answer echoes a byte of the upload.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Response, redirect, request
from werkzeug.wrappers import Response as BaseResponse

from collector.aggregates.read.rehearsal import rehearsal_doc
from collector.intake.bundle import MAX_BUNDLE_BYTES, BundleError, parse_bundle
from collector.intel.rehearsal import FAIL
from collector.web.context import services
from collector.web.dashboard.blueprint import bp
from collector.web.dashboard.display import trustkit_snippet
from collector.web.dashboard.errors import NotFoundPage
from collector.web.dashboard.pages import hostname_arg, page_window
from collector.web.dashboard.render import page, page_url

TEXT_FIELD, FILE_FIELD = "chain", "chain_file"


class Refused(Exception):
    """The upload cannot be rehearsed; ``message`` is fixed text, never the upload's."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _count(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def upload() -> bytes:
    """The candidate chain as sent: the file if one was chosen, else the textarea's text
    (line ends as in a file: browsers send a textarea's as CRLF)."""
    text = request.form.get(TEXT_FIELD, "")
    chosen = request.files.get(FILE_FIELD)
    data = chosen.stream.read(MAX_BUNDLE_BYTES + 1) if chosen and chosen.filename else b""
    if data.strip() and text.strip():
        raise Refused(422, "Paste the chain or choose a file, not both.")
    body = data if data.strip() else text.replace("\r\n", "\n").encode("utf-8")
    if len(body) > MAX_BUNDLE_BYTES:
        raise Refused(413, f"The chain is larger than {MAX_BUNDLE_BYTES // 1024} KiB: a chain "
                           f"of up to ten certificates fits many times over.")
    if not body.strip():
        raise Refused(422, "Paste a chain, or choose a PEM file.")
    return body


@dataclass(frozen=True)
class Result:
    """What the results page shows of ``rehearsal_doc``'s answer."""

    doc: dict[str, Any]
    failing: list[dict[str, Any]]
    accepting: list[dict[str, Any]]
    headline: str
    next_trustkit: str

    @property
    def would_fail(self) -> bool:
        return bool(self.failing)


def result(doc: dict[str, Any]) -> Result:
    versions = doc.get("versions") or []
    failing = [v for v in versions if v.get("verdict") == FAIL]
    accepting = [v for v in versions if v.get("verdict") != FAIL]
    if failing:
        headline = (f"{_count(int(doc.get('devices_that_would_fail') or 0), 'device')} on "
                    f"{_count(len(failing), 'version')} would fail")
    elif versions:
        headline = f"Every app version seen ({len(versions):,}) would accept this chain"
    else:
        headline = "No app version was seen in this window: nothing to judge"
    return Result(doc=doc, failing=failing, accepting=accepting, headline=headline,
                  next_trustkit=trustkit_snippet(doc.get("next_release") or {}))


@bp.get("/hosts/<hostname>/rehearsal")
def rehearsal_form(hostname: str) -> BaseResponse:
    """A reload or a shared link of the results page: the form on the host page."""
    name = hostname_arg(hostname)
    page_window()
    return redirect(page_url("dashboard.host", hostname=name, _anchor="rehearse"), 303)


@bp.post("/hosts/<hostname>/rehearsal")
def rehearse(hostname: str) -> Response:
    name = hostname_arg(hostname)
    chosen = page_window()
    try:
        ders = parse_bundle(upload())
    except Refused as exc:
        return page("host_rehearsal.html", exc.status, hostname=name, error=exc.message)
    except BundleError as exc:  # fixed text, safe to show
        return page("host_rehearsal.html", 422, hostname=name, error=str(exc))
    doc = rehearsal_doc(services().reads, name, chosen.window, ders)
    if doc is None:
        raise NotFoundPage("host")
    return page("host_rehearsal.html", hostname=name, error=None, result=result(doc))
