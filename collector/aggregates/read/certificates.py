"""Stored certificates read back: their parsed documents, their (SPKI pin, self-issued) info
cached per process, and the pins that would have let a chain pass.

Nothing new is stored for pin advice: a chain's pins are derived from the certificates the
store already keeps once per fingerprint (``P:{g}:cert:CERT``). Certificates are
content-addressed, so what is derived from one never goes stale and is cached per process.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import Any

from collector.aggregates.read.context import ReadContext
from collector.aggregates.read.replies import rfc3339, text
from collector.intake.chains import ChainError, der_to_pem, load_der, self_issued, spki_pin
from collector.intel.advice import pins_that_would_pass

_CACHE_SIZE = 8192
_info: OrderedDict[str, tuple[str, bool]] = OrderedDict()
_lock = threading.Lock()


def cert_list(raw: Any) -> list[str]:
    """The certificate hashes of a chain record's ``certs`` field, leaf first."""
    return [c for c in text(raw or b"").split(",") if c]


def remember(cert_hash: str, der: bytes) -> tuple[str, bool] | None:
    """(SPKI pin, self-issued) of a stored certificate, now cached; None when it won't parse."""
    try:
        cert = load_der(der)
    except ChainError:
        return None
    found = (spki_pin(cert), self_issued(cert))
    with _lock:
        _info[cert_hash] = found
        if len(_info) > _CACHE_SIZE:
            _info.popitem(last=False)
    return found


def cert_info(ctx: ReadContext, cert_hashes: list[str]) -> dict[str, tuple[str, bool]]:
    """(SPKI pin, self-issued) per certificate hash; one pipeline for those not cached."""
    out: dict[str, tuple[str, bool]] = {}
    with _lock:
        for h in cert_hashes:
            if h in _info:
                out[h] = _info[h]
    missing = [h for h in dict.fromkeys(cert_hashes) if h not in out]
    if missing:
        with ctx.client.pipeline(transaction=False) as pipe:
            for h in missing:
                pipe.get(ctx.keys.glob.cert(h))
            ders = pipe.execute()
        for h, der in zip(missing, ders, strict=True):
            found = remember(h, der) if der else None
            if found is not None:
                out[h] = found
    return out


def would_pass(certs: list[str], info: dict[str, tuple[str, bool]]) -> list[dict[str, str]]:
    """Pins that would have let this chain pass; the last one is a root when self-issued."""
    known = [h for h in certs if h in info]
    if not known:
        return []
    return pins_that_would_pass([info[h][0] for h in known], ends_at_root=info[known[-1]][1])


def cert_doc(der: bytes) -> dict[str, Any]:
    cert = load_der(der)
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "serial": format(cert.serial_number, "x"),
        "not_before": rfc3339(cert.not_valid_before_utc),
        "not_after": rfc3339(cert.not_valid_after_utc),
        "sha256": hashlib.sha256(der).hexdigest(),
        "spki_sha256": spki_pin(cert),
        "pem": der_to_pem(der),
    }
