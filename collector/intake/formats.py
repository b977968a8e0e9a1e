"""From a parsed JSON body to the canonical Report: detect the client, validate, normalise.

Detection is by keys, never by Content-Type (SPEC §3). Pure: no Flask, no Redis, so every
format quirk is tested as a function.
"""

from __future__ import annotations

import functools
import hmac
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from marshmallow import Schema, ValidationError

from collector.intake import schemas
from collector.intake.chains import Chain, ChainError, parse_chain
from collector.intake.hostnames import HostnameError, is_within, reported
from collector.intake.pins import canonical_pin
from collector.intake.rejection import Rejection
from collector.intake.report import Report

MAX_KEYS = 64
_IOS = {"IOS", "MACOS", "TVOS", "WATCHOS", "OSX"}
_TRUSTKIT_KEYS = ("app-bundle-id", "trustkit-version", "app-vendor-id", "app-identifier")


def unprocessable(errors: Mapping[str, list[str]], detail: str = "The report is invalid.") \
        -> Rejection:
    return Rejection(422, "invalid-report", detail, errors=errors)


def detect(doc: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]]:
    """Return (source format, the report object) for a top-level JSON object."""
    if "expect-ct-report" in doc:
        inner = doc["expect-ct-report"]
        if not isinstance(inner, dict):
            raise unprocessable({"expect-ct-report": ["Not a valid object."]})
        return "expect-ct", inner
    platform = doc.get("app-platform")
    if platform == "ANDROID":
        return "trustkit-android", doc
    if isinstance(platform, str) and platform in _IOS:
        return "trustkit-ios", doc
    if any(k in doc for k in _TRUSTKIT_KEYS):
        served = "served-certificate-chain" in doc
        return ("trustkit-android" if served else "trustkit-ios"), doc
    if "served-certificate-chain" in doc and "effective-expiration-date" in doc \
            and not any(k.startswith("app-") for k in doc):
        return "rfc7469", doc  # a browser; Proton's Go client adds app-version
    return "hpkp-like", doc


# Only TrustKit is strict about its own quirks (port is a JSON integer); every body
# without TrustKit keys gets the SPEC's "other HPKP-like senders" tolerance.
_SCHEMAS: dict[str, Schema] = {
    "trustkit-ios": schemas.TRUSTKIT,
    "trustkit-android": schemas.TRUSTKIT,
    "rfc7469": schemas.HPKP_LIKE,
    "expect-ct": schemas.HPKP_LIKE,
    "hpkp-like": schemas.HPKP_LIKE,
}
_LOADERS = {fmt: schemas.FastLoad(schema) for fmt, schema in _SCHEMAS.items()}


def _pins(raw: Sequence[str] | None) -> tuple[str, ...]:
    """Canonical base64 of each SHA-256 pin; `pin-sha256="…"` or bare base64."""
    return _canonical_pins(tuple(raw or ()))


@functools.lru_cache(maxsize=1024)
def _canonical_pins(raw: tuple[str, ...]) -> tuple[str, ...]:
    """Cached: every report from one app build carries the same pin set."""
    out = set()
    for item in raw:
        pin = canonical_pin(item)
        if pin is None:
            raise unprocessable({"known-pins": ['Each pin must be pin-sha256="<base64>".']})
        out.add(pin)
    return tuple(sorted(out))


def parse_client_time(raw: str | None) -> tuple[str | None, tuple[str, ...]]:
    """Best-effort RFC 3339 → UTC ISO string; flags say what was guessed or rejected."""
    if raw is None:
        return None, ("no-client-time",)
    text = raw.strip()
    if not text.isascii():  # Android on non-Latin locales writes its own digits
        text = "".join(str(unicodedata.digit(c)) if c.isdigit() else c for c in text)
    try:
        parsed = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        return None, ("client-time-unparsed",)
    flags: tuple[str, ...] = ()
    if parsed.tzinfo is None:
        parsed, flags = parsed.replace(tzinfo=UTC), ("client-time-no-zone",)
    if not 1970 <= parsed.year <= 2200:
        return None, ("client-time-out-of-range",)
    return parsed.astimezone(UTC).isoformat().replace("+00:00", "Z"), flags


def device_key(secret: bytes, vendor_id: str | None, client_addr: str | None) -> str:
    """Keyed hash: a device is counted without its vendor id or address being stored."""
    basis = f"v:{vendor_id.lower()}" if vendor_id else f"a:{client_addr or '-'}"
    mac = _keyed(secret).copy()
    mac.update(basis.encode("utf-8"))
    return mac.hexdigest()[:32]


@functools.lru_cache(maxsize=4)
def _keyed(secret: bytes) -> hmac.HMAC:
    """HMAC-SHA256 with the key already mixed in: a copy per report skips the key setup."""
    return hmac.new(secret, digestmod="sha256")


def _host(value: str | None, field: str) -> str | None:
    """A DNS name (A-label, or a canonical U-label turned into its A-label) or an IP."""
    if value is None:
        return None
    try:
        return reported(value)
    except HostnameError:
        raise unprocessable({field: ["Not a valid hostname."]}) from None


def _chain(pems: Sequence[str], field: str) -> Chain:
    try:
        return parse_chain(tuple(pems))
    except ChainError as exc:
        raise unprocessable({field: [str(exc).capitalize() + "."]}) from None


def _offending_chain(validated: Sequence[str] | None, served: Sequence[str] | None) -> Chain:
    """The validated chain when non-empty, else the served one; both must be certificates."""
    served_chain = _chain(served, "served-certificate-chain") if served else None
    if validated:
        return _chain(validated, "validated-certificate-chain")
    if served_chain is None:
        raise unprocessable({"validated-certificate-chain": ["A certificate chain is required."]})
    return served_chain


def build(doc: Any, *, received_ms: int, secret: bytes, client_addr: str | None,
          allowed_hosts: Sequence[str] = ()) -> Report:
    """Validate one parsed body into a Report, or raise a 422 Rejection."""
    if not isinstance(doc, dict):
        raise unprocessable({"_schema": ["The report must be a JSON object."]})
    fmt, obj = detect(doc)
    if max(len(doc), len(obj)) > MAX_KEYS:  # the Expect-CT wrapper too
        raise unprocessable({"_schema": ["Too many fields."]})
    try:
        data = _LOADERS[fmt].load(obj)
    except ValidationError as exc:
        raise unprocessable(schemas.flatten(exc.messages)) from None
    hostname = _host(data["hostname"], "hostname")
    assert hostname is not None
    noted = _host(data["noted_hostname"], "noted-hostname")
    if noted is not None and not is_within(hostname, noted):
        raise unprocessable({"hostname": ["Must be the noted hostname or under it."]})
    if allowed_hosts and not any(is_within(noted or hostname, a) for a in allowed_hosts):
        field = "noted-hostname" if noted else "hostname"
        raise unprocessable({field: ["Reports for this host are not accepted."]})
    chain = _offending_chain(data["validated_chain"], data["served_chain"])
    client_time, flags = parse_client_time(data["date_time"])
    enforce = data["enforce_pinning"]
    if enforce is None and data["failure_mode"] in ("enforce", "report-only"):
        enforce = data["failure_mode"] == "enforce"
    if noted and hostname != noted and data["include_subdomains"] is False:
        flags += ("subdomain-not-included",)
    if data["test_report"] or data["pin_collector_test"]:
        flags += ("test-report",)
    return Report(
        hostname=hostname, port=data["port"], noted_hostname=noted,
        include_subdomains=data["include_subdomains"], enforce=enforce, chain=chain,
        known_pins=_pins(data["known_pins"]),
        pins_expiration=data["known_pins_expiration"] or data["effective_expiration"],
        validation_result=data["validation_result"], client_time=client_time,
        client_time_raw=data["date_time"], received_ms=received_ms, source_format=fmt,
        app_id=data["app_bundle_id"] or data["app_identifier"], app_version=data["app_version"],
        platform=data["app_platform"] or ("ANDROID" if fmt == "trustkit-android" else None),
        platform_version=data["app_platform_version"], sdk_version=data["trustkit_version"],
        device=device_key(secret, data["app_vendor_id"], client_addr), flags=flags,
    )
