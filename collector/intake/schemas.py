"""marshmallow schemas for the report bodies real clients send.

Third-party producers grow their payloads, so unknown keys are excluded (after a cap on
their number), never raised: raising would echo attacker-chosen names. Every field is
bounded and strict: marshmallow's defaults coerce "443" and 443.5 to 443 and "yes" to True.
"""

from __future__ import annotations

import re
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

# C0/C1 controls and lone surrogates: they break logs, terminals and UTF-8 encoding.
_BAD_TEXT = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_BAD_PEM = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\uffff]")
TEST_MARKER = "pin-collector-test"  # top-level key of the reports send-test-report sends


class Text(fields.String):
    """A bounded single-line string with no control characters.

    Every check runs in ``check`` rather than through marshmallow's validator loop (the
    validators stay in ``validators`` for the OpenAPI document): reports carry ~25 of these,
    and every one is on the ingestion hot path.
    """

    def __init__(self, max_length: int, *, pem: bool = False, **kwargs: Any) -> None:
        extra = kwargs.pop("validate", None)
        self._length = validate.Length(max=max_length)
        super().__init__(validate=[self._length, *([extra] if extra else [])], **kwargs)
        self._extra = [extra] if extra else []
        self._bad = _BAD_PEM if pem else _BAD_TEXT
        self.max_length = max_length

    def check(self, value: Any) -> str:
        if not isinstance(value, str):
            raise ValidationError("Not a valid string.")
        if len(value) > self.max_length:
            raise ValidationError(self._length.message_max.format(max=self.max_length))
        if self._bad.search(value):
            raise ValidationError("Contains forbidden characters.")
        for extra in self._extra:
            extra(value)
        return value

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        return self.check(value)

    def _validate(self, value: Any) -> None:
        pass  # done in check


class TextList(fields.List):  # type: ignore[type-arg]
    """A bounded list of ``Text``, checked in one loop instead of one field call per item."""

    def __init__(self, item: Text, max_items: int, **kwargs: Any) -> None:
        self._length = validate.Length(max=max_items)
        super().__init__(item, validate=self._length, **kwargs)
        self.item, self.max_items = item, max_items

    def _deserialize(self, value: Any, attr: str | None, data: Any,
                     **kwargs: Any) -> list[Any | None]:
        if not isinstance(value, list):
            raise ValidationError("Not a valid list.")
        if len(value) > self.max_items:
            raise ValidationError(self._length.message_max.format(max=self.max_items))
        errors: dict[int, list[str]] = {}
        for i, item in enumerate(value):
            try:
                self.item.check(item)
            except ValidationError as exc:
                errors[i] = [str(m) for m in exc.messages]
        if errors:
            raise ValidationError(errors)
        return value

    def _validate(self, value: Any) -> None:
        pass  # the length is checked above


class StrictBool(fields.Field):  # type: ignore[type-arg]
    """Only JSON true/false."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if value is True or value is False:
            return value
        raise ValidationError("Not a valid boolean.")


class StrictInt(fields.Field):  # type: ignore[type-arg]
    """A JSON integer (never a bool, float or string) within a range."""

    def __init__(self, low: int, high: int, *, numeric_string: bool = False, **kw: Any) -> None:
        super().__init__(**kw)
        self.low, self.high, self.numeric_string = low, high, numeric_string

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if self.numeric_string and isinstance(value, str) and value.isascii() \
                and value.isdigit() and len(value) <= 5:
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError("Not a valid integer.")
        if not self.low <= value <= self.high:
            raise ValidationError(f"Must be between {self.low} and {self.high}.")
        return value


def _pem_list(max_items: int) -> TextList:
    return TextList(Text(32 * 1024, pem=True), max_items, allow_none=True, load_default=None)


def _opt_text(max_length: int, key: str) -> Text:
    return Text(max_length, data_key=key, allow_none=True, load_default=None)


class ReportSchema(Schema):
    """RFC 7469 §3 keys plus TrustKit's; format-specific tolerance lives in subclasses."""

    class Meta:
        unknown = EXCLUDE  # clients add keys over time (TrustKit 1.0 → 3.x, RFC 9163)

    hostname = Text(254, required=True)  # 253 plus a trailing dot
    port = StrictInt(0, 65535, load_default=0)
    noted_hostname = _opt_text(254, "noted-hostname")
    include_subdomains = StrictBool(data_key="include-subdomains", allow_none=True,
                                    load_default=None)
    enforce_pinning = StrictBool(data_key="enforce-pinning", allow_none=True, load_default=None)
    validated_chain = _pem_list(10)
    validated_chain.data_key = "validated-certificate-chain"
    served_chain = _pem_list(20)
    served_chain.data_key = "served-certificate-chain"
    known_pins = TextList(Text(128), 32, data_key="known-pins", allow_none=True,
                          load_default=None)
    known_pins_expiration = _opt_text(64, "known-pins-expiration-date")
    effective_expiration = _opt_text(64, "effective-expiration-date")
    validation_result = StrictInt(1, 5, data_key="validation-result", allow_none=True,
                                  load_default=None)
    date_time = _opt_text(64, "date-time")
    app_bundle_id = _opt_text(255, "app-bundle-id")
    app_identifier = _opt_text(255, "app-identifier")
    app_version = _opt_text(64, "app-version")
    app_vendor_id = _opt_text(128, "app-vendor-id")
    app_platform = _opt_text(16, "app-platform")
    app_platform_version = _opt_text(64, "app-platform-version")
    trustkit_version = _opt_text(32, "trustkit-version")
    failure_mode = _opt_text(32, "failure-mode")
    test_report = StrictBool(data_key="test-report", allow_none=True, load_default=None)
    # `pin-collector send-test-report` marks its reports with this key (no client sends it),
    # so they are flagged "test-report" and counted apart from real failures.
    pin_collector_test = StrictBool(data_key=TEST_MARKER, allow_none=True, load_default=None)


class TrustKitSchema(ReportSchema):
    """TrustKit iOS/macOS and Android: integer port (0), platform from a known set."""

    app_platform = Text(16, data_key="app-platform", allow_none=True, load_default=None,
                        validate=validate.OneOf(
                            ["IOS", "MACOS", "TVOS", "WATCHOS", "OSX", "ANDROID"]))


class HpkpLikeSchema(ReportSchema):
    """Every body without TrustKit keys (browsers, Proton's Go and .NET clients):
    port may be a numeric string (SPEC §3 "other HPKP-like senders")."""

    port = StrictInt(0, 65535, numeric_string=True, load_default=0)


TRUSTKIT = TrustKitSchema()
HPKP_LIKE = HpkpLikeSchema()


def flatten(messages: Any) -> dict[str, list[str]]:
    """marshmallow's nested messages → {data key: [fixed messages]} (no values inside)."""
    out: dict[str, list[str]] = {}
    if not isinstance(messages, dict):
        return {"_schema": ["Invalid report."]}
    for key, value in messages.items():
        found: list[str] = []
        stack = [value]
        while stack:
            item = stack.pop()
            if isinstance(item, str):
                if item not in found:
                    found.append(item)
            elif isinstance(item, dict):
                stack.extend(item.values())
            elif isinstance(item, list):
                stack.extend(reversed(item))
        out[str(key)] = found[:3]
    return out
