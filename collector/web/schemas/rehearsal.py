"""The field pin inventory and the rotation rehearsal (SPEC section 12)."""

from __future__ import annotations

from marshmallow import fields, validate

from collector.intel.rehearsal import INTERMEDIATE, LEAF, ROOT, VERDICTS
from collector.web.schemas.common import Strict, date_time
from collector.web.schemas.hosts import TrustKitPins

POSITIONS = [LEAF, INTERMEDIATE, ROOT]
_DEVICES = ("Distinct devices (a sketch: about 1.6 % standard error, nearly exact for a few "
            "hundred) in the window.")


class InventoryPinSet(Strict):
    pins = fields.List(fields.String(), required=True, metadata={
        "description": "SPKI SHA-256 pins (base64), as the build carries them."})
    expiration = fields.String(allow_none=True, required=True, metadata={
        "description": "The pin set's expiration as reported (TrustKit's "
                       "kTSKExpirationDate, HPKP's effective expiration)."})
    days_to_expiry = fields.Integer(allow_none=True, required=True)
    expired = fields.Boolean(required=True, metadata={
        "description": "Past its expiration: TrustKit no longer enforces it, silently."})
    has_backup_pin = fields.Boolean(required=True)
    reports = fields.Integer(required=True)
    devices = fields.Integer(required=True, metadata={"description": _DEVICES})
    first_seen = date_time()
    last_seen = date_time()
    trustkit = fields.Nested(TrustKitPins, required=True)
    android_nsc = fields.String(required=True, metadata={
        "description": "The `<pin-set>` element of an Android network security config."})


class InventoryVersion(Strict):
    app_id = fields.String(allow_none=True, required=True, metadata={
        "description": "Null for reports that carry none (RFC 7469 / Chromium, Expect-CT)."})
    app_version = fields.String(allow_none=True, required=True)
    platform = fields.String(allow_none=True, required=True)
    devices = fields.Integer(required=True, metadata={"description": _DEVICES})
    reports = fields.Integer(required=True)
    first_seen = date_time()
    last_seen = date_time()
    pin_sets = fields.List(fields.Nested(InventoryPinSet), required=True)


class MoreBuilds(Strict):
    reports = fields.Integer(required=True, metadata={
        "description": "Reports of (build, pin set) pairs past the per-host cap, in the "
                       "window (day resolution): \"N more\", their pins unknown."})
    pin_sets_all_time = fields.Integer(required=True, metadata={
        "description": "How many (build, pin set) pairs were counted that way, all-time."})


class Inventory(Strict):
    hostname = fields.String(required=True)
    devices = fields.Integer(required=True, metadata={"description": _DEVICES})
    reports = fields.Integer(required=True)
    versions = fields.List(fields.Nested(InventoryVersion), required=True, metadata={
        "description": "Each (app id, version, platform) seen in the window, most devices "
                       "first."})
    more = fields.Nested(MoreBuilds, required=True)


class RehearsalPinSet(Strict):
    pins = fields.List(fields.String(), required=True)
    expiration = fields.String(allow_none=True, required=True)
    days_to_expiry = fields.Integer(allow_none=True, required=True)
    expired = fields.Boolean(required=True)
    reports = fields.Integer(required=True)
    devices = fields.Integer(required=True, metadata={"description": _DEVICES})
    first_seen = date_time()
    last_seen = date_time()
    verdict = fields.String(required=True, validate=validate.OneOf(VERDICTS))
    accepts = fields.Boolean(required=True)
    matching_pins = fields.List(fields.String(), required=True)


class MatchingKey(Strict):
    pin = fields.String(required=True)
    position = fields.String(required=True, validate=validate.OneOf(POSITIONS))


class RehearsalVersion(Strict):
    app_id = fields.String(allow_none=True, required=True)
    app_version = fields.String(allow_none=True, required=True)
    platform = fields.String(allow_none=True, required=True)
    verdict = fields.String(required=True, validate=validate.OneOf(VERDICTS), metadata={
        "description": "fail: a pin set of this build matches no key of the chain; pass: "
                       "one matches; not-enforced: its pin sets are past their expiration "
                       "(accepted, but unpinned); unpinned: no pins reported."})
    accepts = fields.Boolean(required=True, metadata={
        "description": "A pin of that version matches a key in the chain (or it enforces "
                       "no pin)."})
    devices = fields.Integer(required=True, metadata={"description": _DEVICES})
    devices_that_would_fail = fields.Integer(required=True)
    reports = fields.Integer(required=True)
    first_seen = date_time()
    last_seen = date_time()
    matching_pins = fields.List(fields.String(), required=True)
    matching_keys = fields.List(fields.Nested(MatchingKey), required=True)
    expiration = fields.String(allow_none=True, required=True, metadata={
        "description": "Expiration of its most deployed pin set."})
    pin_sets = fields.List(fields.Nested(RehearsalPinSet), required=True)


class RehearsalSummary(Strict):
    versions = fields.Integer(required=True)
    passing = fields.Integer(required=True)
    failing = fields.Integer(required=True)
    not_enforced = fields.Integer(required=True)
    unpinned = fields.Integer(required=True)
    devices = fields.Integer(required=True)
    devices_that_would_fail = fields.Integer(required=True)
    reports_of_other_builds = fields.Integer(required=True, metadata={
        "description": "Reports of builds past the per-host cap: not judged."})


class CandidateCertificate(Strict):
    position = fields.String(required=True, validate=validate.OneOf(POSITIONS))
    subject = fields.String(required=True)
    issuer = fields.String(required=True)
    not_after = date_time()
    spki_sha256 = fields.String(required=True)


class CandidateChain(Strict):
    certificates = fields.List(fields.Nested(CandidateCertificate), required=True)
    classification = fields.String(allow_none=True, required=True, metadata={
        "description": "The chain's class for this host, as a report of it would get."})
    label = fields.String(allow_none=True, required=True)
    warnings = fields.List(fields.String(), required=True)


class PinToAdd(Strict):
    pin = fields.String(required=True)
    position = fields.String(required=True, validate=validate.OneOf(POSITIONS))
    subject = fields.String(allow_none=True, required=True)
    in_chain = fields.Boolean(required=True, metadata={
        "description": "False for a public root the upload left out (from the trust store)."})
    recommended = fields.Boolean(required=True, metadata={
        "description": "The leaf key and its issuing CA's: the two to add to the next "
                       "release."})
    why = fields.String(required=True)
    shipped_by_versions = fields.Integer(required=True)
    trustkit = fields.String(required=True)
    android_nsc = fields.String(required=True)


class NextRelease(Strict):
    pins = fields.List(fields.String(), required=True, metadata={
        "description": "The new leaf and issuing-CA keys plus the most deployed set's pins: "
                       "accepts today's chain and the new one."})
    trustkit = fields.Nested(TrustKitPins, required=True)
    android_nsc = fields.String(required=True)


class Rehearsal(Strict):
    hostname = fields.String(required=True)
    would_fail = fields.Boolean(required=True, metadata={
        "description": "Any build seen in the window would refuse the chain."})
    devices_that_would_fail = fields.Integer(required=True)
    summary = fields.Nested(RehearsalSummary, required=True)
    versions = fields.List(fields.Nested(RehearsalVersion), required=True, metadata={
        "description": "Failing builds first."})
    chain = fields.Nested(CandidateChain, required=True)
    pins_to_add = fields.List(fields.Nested(PinToAdd), required=True)
    next_release = fields.Nested(NextRelease, required=True)
