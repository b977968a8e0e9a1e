"""The host list and the host view: (host, chain) pairs, apps, pin sets, hard-fail readiness
and the recommended pin set.
"""

from __future__ import annotations

from marshmallow import fields, validate

from collector.web.schemas.common import (
    Page,
    PageQuery,
    PinAdvice,
    Strict,
    TopChain,
    date_time,
    test_reports_all_time_field,
    test_reports_field,
    triage_field,
)


# -- query parameters -------------------------------------------------------------------------
class HostListQuery(PageQuery):
    sort = fields.String(load_default="reports", validate=validate.OneOf(["reports", "last_seen"]),
                         metadata={"default": "reports"})


# -- responses --------------------------------------------------------------------------------
class HostItem(Strict):
    hostname = fields.String(required=True)
    reports = fields.Integer(required=True)
    devices = fields.Integer(required=True)
    chains = fields.Integer(required=True)
    first_seen = date_time()
    last_seen = date_time()


class HostPage(Page):
    items = fields.List(fields.Nested(HostItem), required=True)


class App(Strict):
    app_id = fields.String(allow_none=True, required=True)
    app_version = fields.String(allow_none=True, required=True)
    platform = fields.String(allow_none=True, required=True)
    reports = fields.Integer(required=True)


class Enforcement(Strict):
    enforced = fields.Integer(required=True)
    report_only = fields.Integer(required=True)
    unknown_ = fields.Integer(required=True, data_key="unknown")


class HostChain(TopChain):
    """One (host, chain) pair; every figure honours the window."""

    devices = fields.Integer(required=True)
    first_seen = date_time()
    last_seen = date_time()
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
    triage = triage_field()


class MoreChains(Strict):
    reports = fields.Integer(required=True, metadata={
        "description": "Reports on chains past the per-host cap (no class of their own)."})
    chains = fields.Integer(allow_none=True, required=True, metadata={
        "description": "How many such chains; null when the window holds only part of the "
                       "host's history."})
    chains_all_time = fields.Integer(required=True)


class PinSet(Strict):
    pins = fields.List(fields.String(), required=True)
    expiration = fields.String(allow_none=True, required=True)
    reports = fields.Integer(required=True)
    other = fields.Boolean(required=True, metadata={"description": "The capped overflow bucket."})
    has_backup_pin = fields.Boolean(allow_none=True, required=True)
    matches_public_trust_key = fields.Boolean(allow_none=True, required=True)
    matching_pins = fields.List(fields.String(), required=True)
    days_to_expiry = fields.Integer(allow_none=True, required=True)


class AppVersionRisk(Strict):
    app_version = fields.String(required=True)
    reports = fields.Integer(required=True)
    devices = fields.Integer(required=True, allow_none=True,
                             metadata={"description": "distinct devices (null for other, "
                                       "and under a window holding part of the history)"})


class AppRisk(Strict):
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


class Readiness(Strict):
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


class Host(Strict):
    hostname = fields.String(required=True)
    reports = fields.Integer(required=True)
    devices = fields.Integer(required=True)
    first_seen = date_time()
    last_seen = date_time()
    test_reports = test_reports_field()
    test_reports_all_time = test_reports_all_time_field()
    chains = fields.List(fields.Nested(HostChain), required=True, metadata={
        "description": "The host's (host, chain) pairs with the pair's class, but ignored "
                       "ones."})
    ignored_chains = fields.List(fields.Nested(HostChain), required=True, metadata={
        "description": "Pairs triaged ignored (themselves or by an issuer): listed apart, "
                       "still counted in every figure."})
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


class RecommendedPin(Strict):
    pin = fields.String(required=True, metadata={"description": "RFC 7469 SPKI SHA-256, base64."})
    role = fields.String(required=True, validate=validate.OneOf(["primary", "backup"]))
    why = fields.String(required=True)
    subject = fields.String(allow_none=True, required=True, metadata={
        "description": "Subject of a certificate holding the key, when one was seen."})


class TrustKitPins(Strict):
    kTSKPublicKeyHashes = fields.List(fields.String(), required=True)  # TrustKit names
    kTSKExpirationDate = fields.String(allow_none=True, required=True)


class RecommendedPins(Strict):
    pins = fields.List(fields.Nested(RecommendedPin), required=True, metadata={
        "description": "A primary and at least one backup; empty when nothing can be pinned."})
    trustkit = fields.Nested(TrustKitPins, allow_none=True, required=True)
    android_nsc = fields.String(allow_none=True, required=True, metadata={
        "description": "The `<pin-set>` element of an Android network security config."})
    expiration = fields.String(allow_none=True, required=True, metadata={
        "description": "Expiration hint (YYYY-MM-DD): the primary leaf certificate's expiry."})
    why = fields.String(allow_none=True, required=True, metadata={
        "description": "Null, or what is missing: no primary to recommend, or no backup seen."})
