"""Marshmallow schemas of the analyst API: query parameters in, documents out.

Query schemas validate what analysts send (a bad value is a 400 naming the parameter);
response schemas are never used to serialise, only to generate the OpenAPI document, and they
forbid unknown keys so that schemathesis catches any drift between code and document.
"""

from __future__ import annotations

from marshmallow import EXCLUDE, RAISE, Schema, fields, validate


class _Strict(Schema):
    class Meta:
        unknown = RAISE  # documented as additionalProperties: false


def _time(**kw: object) -> fields.String:
    return fields.String(allow_none=True, metadata={"format": "date-time", **kw})


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


class HostListQuery(PageQuery):
    sort = fields.String(load_default="reports", validate=validate.OneOf(["reports", "last_seen"]),
                         metadata={"default": "reports"})


class TimelineQuery(WindowQuery):
    interval = fields.String(
        load_default="day", validate=validate.OneOf(["hour", "day"]),
        metadata={"default": "day",
                  "description": "`hour` defaults to the last 7 days unless `since` is given."})


# -- responses --------------------------------------------------------------------------------
class HostCount(_Strict):
    hostname = fields.String(required=True)
    reports = fields.Integer(required=True)


class TopChain(_Strict):
    fingerprint = fields.String(required=True)
    reports = fields.Integer(required=True)
    classification = fields.String(required=True)
    label = fields.String(allow_none=True)


class Summary(_Strict):
    reports = fields.Integer(required=True)
    hosts = fields.Integer(required=True)
    chains = fields.Integer(required=True)
    devices = fields.Integer(required=True)
    top_hosts = fields.List(fields.Nested(HostCount), required=True)
    top_chains = fields.List(fields.Nested(TopChain), required=True)
    by_classification = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)


class HostItem(_Strict):
    hostname = fields.String(required=True)
    reports = fields.Integer(required=True)
    devices = fields.Integer(required=True)
    chains = fields.Integer(required=True)
    first_seen = _time()
    last_seen = _time()


class _Page(_Strict):
    next_cursor = fields.String(allow_none=True, required=True)


class HostPage(_Page):
    items = fields.List(fields.Nested(HostItem), required=True)


class ChainItem(_Strict):
    fingerprint = fields.String(required=True)
    reports = fields.Integer(required=True)
    hosts = fields.Integer(required=True)
    classification = fields.String(required=True)
    label = fields.String(allow_none=True)
    first_seen = _time()
    last_seen = _time()


class ChainPage(_Page):
    items = fields.List(fields.Nested(ChainItem), required=True)


class PinAdvice(_Strict):
    position = fields.String(required=True,
                             validate=validate.OneOf(["leaf", "intermediate", "root"]))
    pin = fields.String(required=True)
    trustkit = fields.String(required=True)
    android_nsc = fields.String(required=True)


class HostChain(TopChain):
    pins_that_would_pass = fields.List(fields.Nested(PinAdvice), required=True)


class App(_Strict):
    app_id = fields.String(allow_none=True, required=True)
    app_version = fields.String(allow_none=True, required=True)
    platform = fields.String(allow_none=True, required=True)
    reports = fields.Integer(required=True)


class Enforcement(_Strict):
    enforced = fields.Integer(required=True)
    report_only = fields.Integer(required=True)
    unknown_ = fields.Integer(required=True, data_key="unknown")


class PinSet(_Strict):
    pins = fields.List(fields.String(), required=True)
    expiration = fields.String(allow_none=True, required=True)
    reports = fields.Integer(required=True)
    other = fields.Boolean(required=True, metadata={"description": "The capped overflow bucket."})
    has_backup_pin = fields.Boolean(allow_none=True, required=True)
    matches_public_trust_key = fields.Boolean(allow_none=True, required=True)
    matching_pins = fields.List(fields.String(), required=True)
    days_to_expiry = fields.Integer(allow_none=True, required=True)


class AppVersionRisk(_Strict):
    app_version = fields.String(required=True)
    reports = fields.Integer(required=True)
    devices = fields.Integer(required=True, allow_none=True,
                             metadata={"description": "distinct devices (null for other)"})


class Readiness(_Strict):
    devices_at_risk = fields.Integer(required=True, metadata={
        "description": "Distinct report-only devices failing on public-trust chains."})
    by_app_version = fields.List(fields.Nested(AppVersionRisk), required=True)


class Host(_Strict):
    hostname = fields.String(required=True)
    reports = fields.Integer(required=True)
    devices = fields.Integer(required=True)
    first_seen = _time()
    last_seen = _time()
    chains = fields.List(fields.Nested(HostChain), required=True)
    apps = fields.List(fields.Nested(App), required=True)
    validation_results = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    enforcement = fields.Nested(Enforcement, required=True)
    pin_sets = fields.List(fields.Nested(PinSet), required=True)
    hard_fail_readiness = fields.Nested(Readiness, required=True)
    flags = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True,
                        metadata={"description": "reports per flag: client-time-unparsed, "
                                  "client-time-no-zone, subdomain-not-included, test-report…"})


class Point(_Strict):
    start = fields.String(required=True, metadata={"format": "date-time"})
    reports = fields.Integer(required=True)


class Timeline(_Strict):
    hostname = fields.String(required=True)
    interval = fields.String(required=True, validate=validate.OneOf(["hour", "day"]))
    since = _time()
    until = _time()
    points = fields.List(fields.Nested(Point), required=True)


class Certificate(_Strict):
    subject = fields.String(required=True)
    issuer = fields.String(required=True)
    serial = fields.String(required=True, metadata={"description": "Lower-case hex."})
    not_before = fields.String(required=True, metadata={"format": "date-time"})
    not_after = fields.String(required=True, metadata={"format": "date-time"})
    sha256 = fields.String(required=True, metadata={"description": "Hex SHA-256 of the DER."})
    spki_sha256 = fields.String(required=True, metadata={"description": "RFC 7469 pin."})
    pem = fields.String(required=True)


class Chain(_Strict):
    fingerprint = fields.String(required=True)
    reports = fields.Integer(required=True)
    first_seen = _time()
    last_seen = _time()
    classification = fields.String(required=True, validate=validate.OneOf(
        ["interception-tool", "tls-inspection", "public-trust", "unknown"]))
    label = fields.String(allow_none=True, required=True)
    port = fields.Integer(allow_none=True, required=True)
    hosts = fields.List(fields.Nested(HostCount), required=True)
    certificates = fields.List(fields.Nested(Certificate), required=True)
    pins_that_would_pass = fields.List(fields.Nested(PinAdvice), required=True)


class Problem(Schema):
    type = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True)
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))


class Health(_Strict):
    status = fields.String(required=True)


class Ready(_Strict):
    status = fields.String(required=True, validate=validate.OneOf(["ready", "degraded"]))
    reasons = fields.List(fields.String(), required=True)
    spool = fields.Dict(keys=fields.String(), values=fields.Raw(allow_none=True))
