"""What several views share: the strict base, time and test-report fields, the hostname
field, window and page queries, the page envelope, chains and pins as listed, problems.
"""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, validate

from collector.intake.hostnames import HostnameError, normalise


class Strict(Schema):
    class Meta:
        unknown = RAISE  # documented as additionalProperties: false


def date_time(**kw: object) -> fields.String:
    return fields.String(allow_none=True, metadata={"format": "date-time", **kw})


def test_reports_field() -> fields.Integer:
    return fields.Integer(required=True, metadata={
        "description": "Reports flagged test-report (send-test-report) in the window (day "
                       "resolution), counted in no other figure."})


def test_reports_all_time_field() -> fields.Integer:
    return fields.Integer(required=True, metadata={
        "description": "Test reports since the record began (within retention)."})


class Hostname(fields.String):
    """A hostname as analysts type it (U-label or A-label), loaded as its normalised A-label."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kw: Any) -> str:
        raw = super()._deserialize(value, attr, data, **kw)
        try:
            return normalise(raw)
        except HostnameError:
            raise ValidationError("Not a hostname.") from None


# -- query parameters -------------------------------------------------------------------------
class WindowQuery(Schema):
    class Meta:
        unknown = EXCLUDE

    since = fields.AwareDateTime(
        format="iso", metadata={"description": "RFC 3339 start (default: retention period)."})
    until = fields.AwareDateTime(
        format="iso", metadata={"description": "RFC 3339 end (default: now)."})


class PageQuery(WindowQuery):
    limit = fields.Integer(load_default=50, metadata={
        "description": "Items per page; clamped to 1..500.", "default": 50})
    cursor = fields.String(metadata={"description": "`next_cursor` of the previous page."})


# -- responses --------------------------------------------------------------------------------
class Page(Strict):
    next_cursor = fields.String(allow_none=True, required=True)


class TopChain(Strict):
    fingerprint = fields.String(required=True)
    reports = fields.Integer(required=True)
    classification = fields.String(required=True)
    label = fields.String(allow_none=True)


class PinAdvice(Strict):
    position = fields.String(required=True,
                             validate=validate.OneOf(["leaf", "intermediate", "root"]))
    pin = fields.String(required=True)
    trustkit = fields.String(required=True)
    android_nsc = fields.String(required=True)


class Triage(Strict):
    """An entry's triage state: its pair's record or an issuer's (ignored wins)."""

    state = fields.String(required=True,
                          validate=validate.OneOf(["open", "acknowledged", "ignored"]))
    note = fields.String(allow_none=True, required=True)
    by = fields.String(allow_none=True, required=True, metadata={
        "description": "Name of the analyst token that made the change."})
    at = fields.String(allow_none=True, required=True, metadata={"format": "date-time"})
    via = fields.String(allow_none=True, required=True,
                        validate=validate.OneOf(["pair", "issuer"]), metadata={
                            "description": "Whose record this is: the (host, chain) pair's, "
                                           "an issuer's (by SPKI pin), or null (never "
                                           "triaged: open)."})
    pin = fields.String(allow_none=True, required=True, metadata={
        "description": "The issuer's SPKI pin when `via` is issuer."})


def triage_field() -> fields.Nested:
    return fields.Nested(Triage, required=True)


class Problem(Schema):
    type = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True)
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))
