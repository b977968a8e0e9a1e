"""Triage and alerts: the triage change body, its answer, the audit list and the alert list."""

from __future__ import annotations

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from collector.alerts.listing import valid_cursor
from collector.web.schemas.common import Page, Strict, Triage

STATES = ["open", "acknowledged", "ignored"]
NOTE_MAX = 500


# -- request bodies and queries ---------------------------------------------------------------
def _utf8(value: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError("Not valid Unicode text.") from None


class TriageChange(Strict):
    """``PUT /v1/triage/...``: unknown fields are refused (422), nothing is stored."""

    state = fields.String(required=True, validate=validate.OneOf(STATES))
    note = fields.String(
        load_default="", validate=[validate.Length(max=NOTE_MAX), _utf8],
        metadata={"description": f"Why (at most {NOTE_MAX} characters; default empty)."})


class AuditQuery(Schema):
    class Meta:
        unknown = EXCLUDE

    limit = fields.Integer(load_default=50, metadata={
        "description": "Items per page; clamped to 1..500.", "default": 50})
    cursor = fields.String(metadata={"description": "`next_cursor` of the previous page."})


def _stream_id(value: str) -> None:
    if not valid_cursor(value):
        raise ValidationError("Not a cursor from this list.")


class AlertQuery(AuditQuery):
    cursor = fields.String(validate=_stream_id, metadata={
        "description": "`next_cursor` of the previous page (a log stream id, `ms-seq`)."})


# -- responses --------------------------------------------------------------------------------
class PairTriage(Strict):
    hostname = fields.String(required=True)
    fingerprint = fields.String(required=True)
    triage = fields.Nested(Triage, required=True)


class IssuerTriage(Strict):
    pin = fields.String(required=True)
    triage = fields.Nested(Triage, required=True)


class AuditEntry(Strict):
    target = fields.String(required=True, validate=validate.OneOf(["pair", "issuer"]))
    hostname = fields.String(allow_none=True, required=True)
    fingerprint = fields.String(allow_none=True, required=True)
    pin = fields.String(allow_none=True, required=True)
    state = fields.String(required=True, validate=validate.OneOf(STATES))
    note = fields.String(allow_none=True, required=True)
    by = fields.String(required=True, metadata={"description": "The analyst token's name."})
    at = fields.String(required=True, metadata={"format": "date-time"})


class AuditPage(Page):
    items = fields.List(fields.Nested(AuditEntry), required=True, metadata={
        "description": "Triage changes, newest first (the last 10000 are kept)."})


class Alert(Strict):
    """An alert as it was fired (SPEC section 9), exactly as webhooks receive it."""

    id = fields.String(required=True, metadata={"description": "Stable across re-deliveries."})
    rule = fields.String(required=True, validate=validate.OneOf(
        ["new-public-trust-chain", "enforced-failures", "new-chain", "spike",
         "pins-expiring"]))
    hostname = fields.String(required=True)
    fingerprint = fields.String(allow_none=True, required=True)
    classification = fields.String(allow_none=True, required=True)
    label = fields.String(allow_none=True, required=True)
    reports = fields.Integer(allow_none=True, required=True)
    devices = fields.Integer(allow_none=True, required=True)
    first_seen = fields.String(allow_none=True, required=True, metadata={"format": "date-time"})
    fired_at = fields.String(allow_none=True, required=True, metadata={"format": "date-time"})
    url = fields.String(allow_none=True, required=True)
    pin_set = fields.Nested("ExpiringPinSet", metadata={
        "description": "pins-expiring only: the pin set, its expiration and the builds "
                       "carrying it."})


class AlertBuild(Strict):
    app_id = fields.String(allow_none=True, required=True)
    app_version = fields.String(allow_none=True, required=True)
    platform = fields.String(allow_none=True, required=True)


class ExpiringPinSet(Strict):
    pins = fields.List(fields.String(), required=True)
    expiration = fields.String(required=True)
    days_to_expiry = fields.Integer(required=True)
    app_versions = fields.List(fields.Nested(AlertBuild), required=True)


class AlertPage(Page):
    items = fields.List(fields.Nested(Alert), required=True, metadata={
        "description": "Alerts fired, newest first (the last ~10000 are kept)."})
