"""Certificate chains as clients send them: strict PEM → DER, fingerprints and SPKI pins.

Clients wrap base64 differently (64 or 76 columns, LF or CRLF, with or without a trailing
newline), so everything here works on the DER bytes. cryptography's PEM loader silently
ignores a second certificate or trailing bytes; the framing is therefore checked by hand
before any decoding, and the DER is parsed with ``load_der_x509_certificate``.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import functools
import hashlib
import re
from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import serialization

MAX_PEM_CHARS = 32 * 1024
_BEGIN = "-----BEGIN CERTIFICATE-----"
_END = "-----END CERTIFICATE-----"
_B64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")
# One PEM certificate block inside a bundle or file (roots, operator-supplied chains).
PEM_BLOCK = re.compile(rb"-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+?-----END CERTIFICATE-----")
_WS = re.compile(r"[ \t\r\n]+")


class ChainError(ValueError):
    """A certificate string is not exactly one well-formed certificate."""


def pem_to_der(pem: str) -> bytes:
    """Return the DER of the one certificate in ``pem``; anything else is a ChainError."""
    if len(pem) > MAX_PEM_CHARS:
        raise ChainError("certificate is too long")
    text = pem.strip(" \t\r\n")
    if not (text.startswith(_BEGIN) and text.endswith(_END)):
        raise ChainError("not a PEM certificate")
    body = text[len(_BEGIN) : len(text) - len(_END)]
    if "-----" in body:
        raise ChainError("more than one PEM block")
    b64 = _WS.sub("", body)
    if not b64 or not _B64.fullmatch(b64) or len(b64) % 4:
        raise ChainError("invalid base64 in certificate")
    try:
        der = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ChainError("invalid base64 in certificate") from exc
    return der


@functools.lru_cache(maxsize=4096)
def load_der(der: bytes) -> x509.Certificate:
    """Parse DER strictly (cached: the same proxy CA arrives in thousands of reports)."""
    try:
        cert = x509.load_der_x509_certificate(der)
        # Force the lazy parts that later code touches, so a bad key fails here.
        cert.public_key()
    except Exception as exc:  # cryptography raises ValueError and friends on hostile DER
        raise ChainError("not a parseable X.509 certificate") from exc
    return cert


def spki_pin(cert: x509.Certificate) -> str:
    """RFC 7469 pin: base64 of SHA-256 over the DER SubjectPublicKeyInfo."""
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(hashlib.sha256(spki).digest()).decode("ascii")


def self_issued(cert: x509.Certificate) -> bool:
    return cert.subject.public_bytes() == cert.issuer.public_bytes()


@dataclasses.dataclass(frozen=True)
class Chain:
    """An offending chain, leaf first, with what every report about it needs."""

    ders: tuple[bytes, ...]
    fingerprint: str
    pins: tuple[str, ...]

    @property
    def certificates(self) -> list[x509.Certificate]:
        return [load_der(d) for d in self.ders]

    @property
    def cert_hashes(self) -> tuple[str, ...]:
        return tuple(hashlib.sha256(d).hexdigest() for d in self.ders)


def fingerprint(ders: Sequence[bytes]) -> str:
    """SHA-256 over the concatenated DER, leaf first, minus a final self-issued root.

    Dropping the root makes the iOS view (leaf + root) and the Android view (leaf only)
    of one interception proxy the same chain.
    """
    kept = list(ders)
    if len(kept) > 1 and self_issued(load_der(kept[-1])):
        kept.pop()
    return hashlib.sha256(b"".join(kept)).hexdigest()


@functools.lru_cache(maxsize=2048)
def parse_chain(pems: tuple[str, ...]) -> Chain:
    """Decode a chain of PEM strings; cached per distinct chain text."""
    ders = tuple(pem_to_der(p) for p in pems)
    certs = [load_der(d) for d in ders]
    return Chain(ders=ders, fingerprint=fingerprint(ders), pins=tuple(spki_pin(c) for c in certs))


def der_to_pem(der: bytes) -> str:
    b64 = base64.b64encode(der).decode("ascii")
    lines = [b64[i : i + 64] for i in range(0, len(b64), 64)]
    return "\n".join([_BEGIN, *lines, _END]) + "\n"
