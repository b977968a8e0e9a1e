"""marshmallow schemas for the report bodies real clients send.

Third-party producers grow their payloads, so unknown keys are excluded (after a cap on
their number), never raised: raising would echo attacker-chosen names. Every field is
bounded and strict: marshmallow's defaults coerce "443" and 443.5 to 443 and "yes" to True.
"""

from __future__ import annotations

import re
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, missing, validate

# C0/C1 controls and lone surrogates: they break logs, terminals and UTF-8 encoding.
_BAD_TEXT = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_BAD_PEM = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\uffff]")
# The same two sets for ASCII text, where a C string method decides faster than the regex:
# _BAD_TEXT holds exactly the ASCII characters str.isprintable() refuses, and _BAD_PEM those
# plus tab, LF and CR, which ``bytes.translate`` drops below.
_PEM_CONTROLS = bytes(c for c in range(0x20) if c not in (0x09, 0x0A, 0x0D)) + b"\x7f"
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
        self._pem = pem
        self.max_length = max_length

    def check(self, value: Any) -> str:
        if not isinstance(value, str):
            raise ValidationError("Not a valid string.")
        if len(value) > self.max_length:
            raise ValidationError(self._length.message_max.format(max=self.max_length))
        clean = _clean_ascii(value, self._pem) if value.isascii() else not self._bad.search(value)
        if not clean:
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


def _clean_ascii(value: str, pem: bool) -> bool:
    """An ASCII ``value`` holds no character of ``_BAD_TEXT`` (``_BAD_PEM`` if ``pem``)."""
    return value.isprintable() or (
        pem and len(value.encode().translate(None, _PEM_CONTROLS)) == len(value))


def _plain(value: Any, limit: int, pem: bool) -> bool:
    """The common case of ``Text.check`` passing, decided without a call into the field:
    an ASCII str within the limit and without a forbidden character. False means "ask the
    field" (which then accepts it or names the problem), never "invalid"."""
    return (value.__class__ is str and len(value) <= limit and value.isascii()
            and _clean_ascii(value, pem))


_FIELD, _TEXT, _TEXT_LIST = 0, 1, 2


class FastLoad:
    """``schema.load`` for the intake's flat schemas in one loop over their fields.

    marshmallow's generic load costs ~5 µs of bookkeeping per field (closures, an error
    store, keyword plumbing) on top of the checks themselves, and reports carry ~25 fields.
    This runs the same steps per field (missing: required or the default; null: allowed or
    not; ``_deserialize``, then ``_validate``), with the usual case of a ``Text`` or a
    ``TextList`` of them checked inline, and stops at the first failure to let
    marshmallow's own ``load`` produce the error, so a rejection is exactly marshmallow's.
    A schema with hooks, or fields with pre/post-load functions, always takes the slow path.
    """

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self.plan: list[tuple[str, str, fields.Field[Any], bool, bool, Any, int, int, bool,
                              int]] = []
        self.generic = any(schema._hooks.values()) or schema.unknown != EXCLUDE
        for attr, field in schema.load_fields.items():
            if field.pre_load or field.post_load or callable(field.load_default) \
                    or (field.attribute and "." in field.attribute):
                self.generic = True
            kind, limit, pem, items = _FIELD, 0, False, 0
            text = field.item if isinstance(field, TextList) else field
            if isinstance(text, Text) and not text._extra:
                kind = _TEXT_LIST if text is not field else _TEXT
                limit, pem = text.max_length, text._pem
                items = field.max_items if isinstance(field, TextList) else 0
            self.plan.append((field.data_key if field.data_key is not None else attr,
                              field.attribute or attr, field, field.required,
                              bool(field.allow_none), field.load_default, kind, limit, pem,
                              items))

    def load(self, obj: Any) -> dict[str, Any]:
        if self.generic or not isinstance(obj, dict):
            return self._slow(obj)
        out: dict[str, Any] = {}
        get = obj.get
        for key, attr, field, required, allow_none, default, kind, limit, pem, items \
                in self.plan:
            value = get(key, missing)
            if value is missing:
                if required:
                    return self._slow(obj)
                if default is not missing:
                    out[attr] = default
            elif value is None:
                if not allow_none:
                    return self._slow(obj)
                out[attr] = None
            elif (kind == _TEXT and _plain(value, limit, pem)) or (
                    kind == _TEXT_LIST and value.__class__ is list and len(value) <= items
                    and all(_plain(item, limit, pem) for item in value)):
                out[attr] = value
            else:
                try:
                    value = field._deserialize(value, key, obj)
                    field._validate(value)
                except ValidationError:
                    return self._slow(obj)
                out[attr] = value
        return out

    def _slow(self, obj: Any) -> dict[str, Any]:
        loaded: dict[str, Any] = self.schema.load(obj)
        return loaded


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
