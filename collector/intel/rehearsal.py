"""Rotation rehearsal: would the app builds in the field accept a chain before it is served?

Pure: the caller passes the candidate chain's certificates (and, when it verifies to a public
root, the verified path's pins) and the pin sets deployed in the field; nothing here reads
Redis or the clock. TrustKit and Android's network security config accept a chain when any
pin of the app's set matches a key anywhere in the validated chain, root included, so a
build accepts the candidate exactly when one of its pins is one of the candidate's keys.

Verdicts of one deployed pin set:

* ``pass``: a pin matches a key of the chain;
* ``fail``: no pin matches: every device of that build refuses the new chain (report-only
  builds report it; enforcing builds lose service);
* ``not-enforced``: the pin set's expiration date is past: TrustKit stops enforcing it
  silently, so the chain is accepted whatever the pins (flagged: the build has no pinning);
* ``unpinned``: the reports carry no pin (Expect-CT, some HPKP senders): nothing to enforce.

A build (app id, version, platform) fails when any pin set seen for it fails.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509

from collector.intake.chains import self_issued, spki_pin
from collector.intake.pins import canonical_pin
from collector.intel.advice import parse_expiration

LEAF, INTERMEDIATE, ROOT = "leaf", "intermediate", "root"
PASS, FAIL, NOT_ENFORCED, UNPINNED = "pass", "fail", "not-enforced", "unpinned"
VERDICTS = (PASS, FAIL, NOT_ENFORCED, UNPINNED)


@dataclass(frozen=True)
class CandidateKey:
    """One key of the chain to rehearse: its pin, where it sits, whose it is, and whether it
    was in the uploaded chain (a public root the upload left out is added from the store)."""

    pin: str
    position: str
    subject: str | None
    uploaded: bool = True


def position_of(index: int, cert: x509.Certificate) -> str:
    """Where a certificate of an uploaded chain sits: the first is the leaf, a self-issued one
    after it a root, any other an intermediate."""
    return LEAF if index == 0 else ROOT if self_issued(cert) else INTERMEDIATE


def candidate_keys(certs: Sequence[x509.Certificate],
                   verified_pins: Sequence[str] = ()) -> list[CandidateKey]:
    """The candidate's keys, leaf first, each once.

    ``certs`` as uploaded (leaf first); ``verified_pins`` the verified path to a public root
    (``Classification.verified_pins``), whose keys the upload lacks are added (the root, as
    clients complete the chain from their trust store).
    """
    out: list[CandidateKey] = []
    seen: set[str] = set()
    for i, cert in enumerate(certs):
        pin = spki_pin(cert)
        if pin in seen:
            continue
        seen.add(pin)
        out.append(CandidateKey(pin, position_of(i, cert), cert.subject.rfc4514_string()))
    path = list(verified_pins)
    for j, pin in enumerate(path):
        if pin not in seen:
            seen.add(pin)
            out.append(CandidateKey(pin, ROOT if j == len(path) - 1 else INTERMEDIATE, None,
                                    uploaded=False))
    return out


def unique_pins(pins: Iterable[str]) -> list[str]:
    """The SHA-256 pins among ``pins``, canonical, each once (anything else can match no key)."""
    return list(dict.fromkeys(p for p in (canonical_pin(x) for x in pins) if p))


def days_to_expiry(expiration: str | None, today: datetime.date) -> int | None:
    expires = parse_expiration(expiration)
    return (expires - today).days if expires is not None else None


@dataclass(frozen=True)
class Verdict:
    """What one deployed pin set makes of the candidate."""

    verdict: str
    matching: tuple[CandidateKey, ...]
    days_to_expiry: int | None

    @property
    def accepts(self) -> bool:
        return self.verdict != FAIL

    @property
    def matching_pins(self) -> list[str]:
        return [k.pin for k in self.matching]


def judge(pins: Sequence[str], expiration: str | None, keys: Sequence[CandidateKey],
          today: datetime.date) -> Verdict:
    """The verdict of one pin set (with its expiration) on the candidate's keys."""
    shipped = set(unique_pins(pins))
    days = days_to_expiry(expiration, today)
    matching = tuple(k for k in keys if k.pin in shipped)
    if not shipped:
        return Verdict(UNPINNED, (), days)
    if days is not None and days < 0:
        return Verdict(NOT_ENFORCED, matching, days)
    return Verdict(PASS if matching else FAIL, matching, days)


def build_verdict(verdicts: Iterable[str]) -> str:
    """One build's verdict from those of its pin sets: fail wins, then pass, not-enforced."""
    found = set(verdicts)
    for verdict in (FAIL, PASS, NOT_ENFORCED):
        if verdict in found:
            return verdict
    return UNPINNED


_WHY = {
    LEAF: "Key of the leaf certificate you are about to serve: pins exactly this deployment "
          "(primary).",
    "issuer": "Key of the CA that issued that leaf: a later leaf from the same CA still "
              "passes (backup).",
    INTERMEDIATE: "Key of a CA higher up the chain: any certificate it issues passes.",
    ROOT: "Key of the root: any certificate of that CA hierarchy passes (the broadest "
          "backup, and the weakest pin).",
}


def pins_to_add(keys: Sequence[CandidateKey], shipped: dict[str, int]) -> list[dict[str, Any]]:
    """The candidate's SPKI pins, leaf first, with which key each is, whether it is one of the
    two to add to the next release (the leaf key and its issuing CA's), why, how many builds
    seen already ship it, and the TrustKit and Android network-security-config forms."""
    out: list[dict[str, Any]] = []
    for i, key in enumerate(keys):
        issuer = i == 1
        out.append({
            "pin": key.pin,
            "position": key.position,
            "subject": key.subject,
            "in_chain": key.uploaded,
            "recommended": i <= 1,
            "why": _WHY["issuer" if issuer else key.position],
            "shipped_by_versions": shipped.get(key.pin, 0),
            "trustkit": key.pin,  # kTSKPublicKeyHashes takes the bare base64 digest
            "android_nsc": f'<pin digest="SHA-256">{key.pin}</pin>',
        })
    return out


def pin_set_forms(pins: Sequence[str], expiration: str | None) -> dict[str, Any]:
    """A pin set ready to paste: TrustKit's ``kTSKPublicKeyHashes`` / ``kTSKExpirationDate``
    and Android's ``<pin-set>`` (dates as yyyy-MM-dd, as both expect)."""
    hashes = unique_pins(pins)
    expires = parse_expiration(expiration)
    date = expires.isoformat() if expires else None
    attr = f' expiration="{date}"' if date else ""
    nsc = "\n".join([f"<pin-set{attr}>",
                     *(f'    <pin digest="SHA-256">{p}</pin>' for p in hashes), "</pin-set>"])
    return {"trustkit": {"kTSKPublicKeyHashes": hashes, "kTSKExpirationDate": date},
            "android_nsc": nsc}


def next_release(keys: Sequence[CandidateKey], current: Sequence[str],
                 leaf_not_after: datetime.date | None) -> dict[str, Any]:
    """The pin set to ship before rotating: the candidate's leaf and issuing-CA keys, plus the
    pins of the most deployed set (``current``), so the release accepts the chain served today
    and the new one. The expiration hint is the new leaf's expiry."""
    pins = unique_pins([*(k.pin for k in keys[:2]), *current])
    return {"pins": pins, **pin_set_forms(
        pins, leaf_not_after.isoformat() if leaf_not_after else None)}
