"""The dashboard's forms: sign-in, triage and rotation rehearsal. CSRF is checked before any
of them is read (Flask-WTF's ``CSRFProtect.protect``, in the blueprint's ``before_request``),
on a body capped at ``FORM_MAX_BYTES``; these only validate the fields, with the API's own
rules (``schemas.triage.TriageChange``; the rehearsal's chain in ``dashboard.rehearse``).
"""

from __future__ import annotations

from dataclasses import dataclass

from marshmallow import ValidationError
from werkzeug.datastructures import MultiDict

from collector.intake.bundle import MAX_BUNDLE_BYTES
from collector.web.dashboard.params import BadQuery, first_problem
from collector.web.schemas.triage import TriageChange

TOKEN_MAX = 4096
"""Longer than any token this collector makes or accepts in configuration."""
FORM_MAX_BYTES = MAX_BUNDLE_BYTES + 16 * 1024
"""The largest body of any dashboard POST: a chain to rehearse (MAX_BUNDLE_BYTES) and the
multipart framing and other fields around it. Past it, 413 before a byte is parsed."""
FORM_MAX_PARTS = 16
"""More fields than any dashboard form has."""


class BadForm(BadQuery):
    """A field the form cannot take; the same 400 page as a bad query names it."""


def sign_in_token(form: MultiDict[str, str]) -> str:
    """The token typed in (empty when missing or implausibly long: it will not match)."""
    token = form.get("token", "")
    return token if len(token) <= TOKEN_MAX else ""


@dataclass(frozen=True)
class TriageForm:
    state: str
    note: str


def triage_form(form: MultiDict[str, str]) -> TriageForm:
    """``state`` (the button pressed) and an optional ``note``, as the API accepts them."""
    try:
        found = TriageChange().load({"state": form.get("state", ""),
                                     "note": form.get("note", "").strip()})
    except ValidationError as exc:
        raise BadForm(*first_problem(exc, "form")) from None
    return TriageForm(found["state"], found["note"])
