"""Marshmallow schemas of the analyst API: query parameters in, documents out.

Query schemas validate what analysts send (a bad value is a 400 naming the parameter);
response schemas are never used to serialise, only to generate the OpenAPI document, and they
forbid unknown keys so that schemathesis catches any drift between code and document.
"""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, validate

from collector.aggregates.read.params import CLASSES
from collector.intake.hostnames import HostnameError, normalise


class _Strict(Schema):
    class Meta:
        unknown = RAISE  # documented as additionalProperties: false


def _time(**kw: object) -> fields.String:
    return fields.String(allow_none=True, metadata={"format": "date-time", **kw})


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


class HostListQuery(PageQuery):
    sort = fields.String(load_default="reports", validate=validate.OneOf(["reports", "last_seen"]),
                         metadata={"default": "reports"})


class ChainListQuery(PageQuery):
    classification = fields.String(validate=validate.OneOf(CLASSES), metadata={
        "description": "Only chains of this class: the chain's own (issuer-level) class, or the "
                       "(host, chain) pair's class when `hostname` is given."})
    hostname = Hostname(metadata={
        "description": "Only this host's chains, ranked by their reports on it, with the pair's "
                       "class. U-label or A-label form."})


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


class HostLosing(_Strict):
    hostname = fields.String(required=True)
    reports = fields.Integer(required=True, metadata={
        "description": "Reports from enforcing clients on public-trust (host, chain) pairs."})
    devices = fields.Integer(required=True, metadata={
        "description": "Distinct enforcing devices failing on them (losing service)."})


def _test_reports() -> fields.Integer:
    return fields.Integer(required=True, metadata={
        "description": "Reports flagged test-report (send-test-report) in the window (day "
                       "resolution), counted in no other figure."})


def _test_reports_all_time() -> fields.Integer:
    return fields.Integer(required=True, metadata={
        "description": "Test reports since the record began (within retention)."})


class Summary(_Strict):
    hosts_losing_service_now = fields.List(fields.Nested(HostLosing), required=True, metadata={
        "description": "Hosts whose enforcing clients fail on a public-trust chain now, by "
                       "reports (at most 100 listed)."})
    devices_failing_now = fields.Integer(required=True, metadata={
        "description": "Hosts' devices losing service now, summed over hosts."})
    devices_at_risk = fields.Integer(required=True, metadata={
        "description": "Hosts' report-only devices failing on public-trust chains, summed."})
    reports = fields.Integer(required=True)
    hosts = fields.Integer(required=True)
    chains = fields.Integer(required=True)
    devices = fields.Integer(required=True)
    top_hosts = fields.List(fields.Nested(HostCount), required=True)
    top_chains = fields.List(fields.Nested(TopChain), required=True)
    by_classification = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    test_reports = _test_reports()
    test_reports_all_time = _test_reports_all_time()


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


def _class(**kw: Any) -> fields.String:
    return fields.String(required=True, validate=validate.OneOf(CLASSES), **kw)


class ChainItem(_Strict):
    fingerprint = fields.String(required=True)
    reports = fields.Integer(required=True, metadata={
        "description": "Reports in the window (on `hostname` when the list is filtered by it)."})
    hosts = fields.Integer(required=True, metadata={
        "description": "Hosts the chain was reported for in the window."})
    classification = _class(metadata={
        "description": "The chain's own class, or the pair's when filtered by `hostname`."})
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


class App(_Strict):
    app_id = fields.String(allow_none=True, required=True)
    app_version = fields.String(allow_none=True, required=True)
    platform = fields.String(allow_none=True, required=True)
    reports = fields.Integer(required=True)


class Enforcement(_Strict):
    enforced = fields.Integer(required=True)
    report_only = fields.Integer(required=True)
    unknown_ = fields.Integer(required=True, data_key="unknown")


class HostChain(TopChain):
    """One (host, chain) pair; every figure honours the window."""

    devices = fields.Integer(required=True)
    first_seen = _time()
    last_seen = _time()
    enforcement = fields.Nested(Enforcement, required=True)
    apps = fields.List(fields.Nested(App), required=True)
    reports_failing_now = fields.Integer(required=True, metadata={
        "description": "Reports from enforcing clients, when the pair is public-trust."})
    reports_at_risk = fields.Integer(required=True, metadata={
        "description": "Reports from report-only clients, when the pair is public-trust."})
    devices_failing_now = fields.Integer(required=True, metadata={
        "description": "Distinct devices behind reports_failing_now: exact when the pair's "
                       "clients all enforce or it is the host's only public-trust pair, else "
                       "an upper bound."})
    devices_at_risk = fields.Integer(required=True, metadata={
        "description": "As devices_failing_now, for report-only clients."})
    pins_that_would_pass = fields.List(fields.Nested(PinAdvice), required=True)


class MoreChains(_Strict):
    reports = fields.Integer(required=True, metadata={
        "description": "Reports on chains past the per-host cap (no class of their own)."})
    chains = fields.Integer(allow_none=True, required=True, metadata={
        "description": "How many such chains; null when the window holds only part of the "
                       "host's history."})
    chains_all_time = fields.Integer(required=True)


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
                             metadata={"description": "distinct devices (null for other, "
                                       "and under a window holding part of the history)"})


class AppRisk(_Strict):
    app_id = fields.String(allow_none=True, required=True)
    app_version = fields.String(allow_none=True, required=True)
    platform = fields.String(allow_none=True, required=True)
    reports_failing_now = fields.Integer(required=True)
    devices_failing_now = fields.Integer(allow_none=True, required=True, metadata={
        "description": "Null for the capped overflow (`other`), and under a window that holds "
                       "only part of the host's history (distinct devices per app are kept "
                       "all-time only)."})
    reports_at_risk = fields.Integer(required=True)
    devices_at_risk = fields.Integer(allow_none=True, required=True, metadata={
        "description": "As devices_failing_now."})


class Readiness(_Strict):
    devices_failing_now = fields.Integer(required=True, metadata={
        "description": "Distinct enforcing devices failing on public-trust chains: losing "
                       "service now."})
    devices_at_risk = fields.Integer(required=True, metadata={
        "description": "Distinct report-only devices failing on public-trust chains."})
    reports_failing_now = fields.Integer(required=True)
    reports_at_risk = fields.Integer(required=True)
    by_app = fields.List(fields.Nested(AppRisk), required=True)
    by_app_version = fields.List(fields.Nested(AppVersionRisk), required=True, metadata={
        "description": "At-risk (report-only) figures per app version."})


class Host(_Strict):
    hostname = fields.String(required=True)
    reports = fields.Integer(required=True)
    devices = fields.Integer(required=True)
    first_seen = _time()
    last_seen = _time()
    test_reports = _test_reports()
    test_reports_all_time = _test_reports_all_time()
    chains = fields.List(fields.Nested(HostChain), required=True, metadata={
        "description": "The host's (host, chain) pairs with the pair's class."})
    more_chains = fields.Nested(MoreChains, required=True)
    apps = fields.List(fields.Nested(App), required=True)
    validation_results = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    enforcement = fields.Nested(Enforcement, required=True)
    pin_sets = fields.List(fields.Nested(PinSet), required=True)
    hard_fail_readiness = fields.Nested(Readiness, required=True)
    recommended_pins = fields.Nested("RecommendedPins", required=True, metadata={
        "description": "A pin set for the app: a primary and backups, each with why."})
    flags = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True,
                        metadata={"description": "reports per flag in the window: "
                                  "client-time-unparsed, client-time-no-zone, "
                                  "subdomain-not-included…"})


class Point(_Strict):
    start = fields.String(required=True, metadata={"format": "date-time"})
    reports = fields.Integer(required=True)


class _Series(_Strict):
    interval = fields.String(required=True, validate=validate.OneOf(["hour", "day"]))
    since = _time()
    until = _time()
    points = fields.List(fields.Nested(Point), required=True)


class Timeline(_Series):
    hostname = fields.String(required=True)


class ChainTimeline(_Series):
    fingerprint = fields.String(required=True)


class PairTimeline(_Series):
    hostname = fields.String(required=True)
    fingerprint = fields.String(required=True)


class RecommendedPin(_Strict):
    pin = fields.String(required=True, metadata={"description": "RFC 7469 SPKI SHA-256, base64."})
    role = fields.String(required=True, validate=validate.OneOf(["primary", "backup"]))
    why = fields.String(required=True)
    subject = fields.String(allow_none=True, required=True, metadata={
        "description": "Subject of a certificate holding the key, when one was seen."})


class TrustKitPins(_Strict):
    kTSKPublicKeyHashes = fields.List(fields.String(), required=True)  # TrustKit names
    kTSKExpirationDate = fields.String(allow_none=True, required=True)


class RecommendedPins(_Strict):
    pins = fields.List(fields.Nested(RecommendedPin), required=True, metadata={
        "description": "A primary and at least one backup; empty when nothing can be pinned."})
    trustkit = fields.Nested(TrustKitPins, allow_none=True, required=True)
    android_nsc = fields.String(allow_none=True, required=True, metadata={
        "description": "The `<pin-set>` element of an Android network security config."})
    expiration = fields.String(allow_none=True, required=True, metadata={
        "description": "Expiration hint (YYYY-MM-DD): the primary leaf certificate's expiry."})
    why = fields.String(allow_none=True, required=True, metadata={
        "description": "Null, or what is missing: no primary to recommend, or no backup seen."})


class Certificate(_Strict):
    subject = fields.String(required=True)
    issuer = fields.String(required=True)
    serial = fields.String(required=True, metadata={"description": "Lower-case hex."})
    not_before = fields.String(required=True, metadata={"format": "date-time"})
    not_after = fields.String(required=True, metadata={"format": "date-time"})
    sha256 = fields.String(required=True, metadata={"description": "Hex SHA-256 of the DER."})
    spki_sha256 = fields.String(required=True, metadata={"description": "RFC 7469 pin."})
    pem = fields.String(required=True)


class ChainHost(_Strict):
    hostname = fields.String(required=True)
    reports = fields.Integer(required=True, metadata={"description": "Reports in the window."})
    classification = _class(metadata={
        "description": "The (host, chain) pair's class: `public-trust` only for a host the "
                       "leaf covers."})
    label = fields.String(allow_none=True, required=True)


class MoreHosts(_Strict):
    reports = fields.Integer(required=True, metadata={
        "description": "Reports from hosts past the per-chain host cap (no class of their own)."})


class Chain(_Strict):
    fingerprint = fields.String(required=True)
    reports = fields.Integer(required=True)
    first_seen = _time()
    last_seen = _time()
    classification = _class(metadata={
        "description": "The chain's own class, by issuer: `public-trust` when it chains to a "
                       "public root, whichever hosts its leaf covers."})
    label = fields.String(allow_none=True, required=True)
    port = fields.Integer(allow_none=True, required=True)
    hosts = fields.List(fields.Nested(ChainHost), required=True)
    more_hosts = fields.Nested(MoreHosts, allow_none=True, required=True)
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
