"""The canonical record: what every accepted report becomes, whatever client sent it.

It is also the unit of durability: the store writes it, the spool keeps it as compact JSON
(with the writer id and sequence that make a replay idempotent). Fields added later have
defaults, so records spooled by an older collector still replay.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import json
from typing import Any

from collector.intake.chains import Chain

TEST_REPORT = "test-report"  # the flag of reports sent by `send-test-report`: counted apart
_COMPACT = json.JSONEncoder(separators=(",", ":"))  # json.dumps(**kw) would build one per call


@functools.lru_cache(maxsize=1024)
def _chain_json(chain: Chain) -> str:
    """The chain's JSON text, encoded once per distinct chain (it is most of a record)."""
    return json.dumps({
        "ders": [base64.b64encode(d).decode("ascii") for d in chain.ders],
        "fingerprint": chain.fingerprint,
        "pins": list(chain.pins),
    }, separators=(",", ":"))


@functools.lru_cache(maxsize=1024)
def _same_json(values: tuple[Any, ...]) -> str:
    """``{"hostname":…`` (no closing brace) for one combination of the ``_SAME`` fields."""
    return _COMPACT.encode(dict(zip(_SAME, values, strict=True)))[:-1]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Report:
    hostname: str
    port: int
    noted_hostname: str | None
    include_subdomains: bool | None
    enforce: bool | None
    chain: Chain
    known_pins: tuple[str, ...]
    pins_expiration: str | None
    validation_result: int | None
    client_time: str | None
    client_time_raw: str | None
    received_ms: int
    source_format: str
    app_id: str | None
    app_version: str | None
    platform: str | None
    platform_version: str | None
    sdk_version: str | None
    device: str
    classification: str = "unknown"  # the PAIR's (host, chain) class
    label: str | None = None
    flags: tuple[str, ...] = ()
    chain_classification: str | None = None  # the chain's own, issuer-level class
    chain_label: str | None = None
    class_version: str | None = None  # Classifier.version that decided both classes

    @property
    def is_test(self) -> bool:
        return TEST_REPORT in self.flags

    @property
    def enforcement(self) -> str:
        return {True: "enforced", False: "report_only", None: "unknown"}[self.enforce]

    def to_json(self, **extra: Any) -> bytes:
        """Compact JSON of every field (and ``extra``). The fields a storm repeats (host, app,
        pins, classes: all but the device, the times and the chain) are encoded once per
        distinct combination; a record is that text plus the rest."""
        d = self.__dict__
        same = _same_json(tuple(d[name] for name in _SAME))
        own = _COMPACT.encode({name: d[name] for name in _OWN} | extra)  # never empty: "{...}"
        return f'{same},{own[1:-1]},"chain":{_chain_json(self.chain)}}}'.encode()

    @classmethod
    def from_json(cls, raw: bytes) -> tuple[Report, dict[str, Any]]:
        """Rebuild a report from ``to_json``; the second value holds the extra fields."""
        doc = json.loads(raw)
        names = {f.name for f in dataclasses.fields(cls)}
        extra = {k: v for k, v in doc.items() if k not in names}
        fields = {k: v for k, v in doc.items() if k in names}
        chain = fields.pop("chain")
        fields["chain"] = Chain(
            ders=tuple(base64.b64decode(d) for d in chain["ders"]),
            fingerprint=chain["fingerprint"],
            pins=tuple(chain["pins"]),
        )
        for key in ("known_pins", "flags"):
            if key in fields:
                fields[key] = tuple(fields[key])
        return cls(**fields), extra


# The fields that differ from report to report (the device, the times); every other field
# but the chain is in _SAME (see ``Report.to_json``).
_OWN = ("device", "received_ms", "client_time", "client_time_raw")
_SAME = tuple(f.name for f in dataclasses.fields(Report) if f.name not in (*_OWN, "chain"))
