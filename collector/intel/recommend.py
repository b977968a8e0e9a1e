"""A recommended pin set for one host: a primary pin and backups, each with why (SPEC §6).

Pure: the caller passes what the aggregates already hold (the host's chains with their keys,
and the pin sets its clients ship) and gets back the pins with ready-to-paste TrustKit and
Android network-security-config forms. Nothing here reads Redis or the clock.

The primary is the leaf key of the host's most-reported ``public-trust`` chain: the key the
host serves now, which the app's pins are missing. Without one, the leaf key of the
most-reported chain holding a pin the clients already ship. Backups are the other keys of that
chain's verified path (its CAs: a leaf re-issued by the same CA still passes) and the keys of
the host's other public-trust chains from a different CA; when none was seen, the pins the
clients already ship. Both TrustKit and Android refuse (or warn about) a set without a backup.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509

from collector.intake.chains import spki_pin
from collector.intel.advice import normalize_pin
from collector.intel.classify import PUBLIC_TRUST, Classification

MAX_PINS = 12
"""A pin set longer than this helps nobody; later backups are dropped."""

PinSets = Sequence[tuple[Sequence[str], int]]
"""The pin sets clients ship: (pins as reported, reports carrying that set)."""


@dataclass(frozen=True)
class KeySeen:
    """One key of a chain: its RFC 7469 pin and the subject of a certificate holding it."""

    pin: str
    subject: str | None = None


@dataclass(frozen=True)
class ChainSeen:
    """One of the host's chains as the recommendation needs it.

    ``keys`` run leaf first; for a public-trust chain they are its verified path, ending at the
    store's root (``Classification.verified_pins``), else the chain as reported.
    """

    fingerprint: str
    reports: int
    public_trust: bool
    keys: tuple[KeySeen, ...]
    leaf_not_after: datetime.date | None = None


def chain_seen(
    fingerprint: str,
    reports: int,
    certs: Sequence[x509.Certificate],
    classification: Classification | None = None,
    known: Sequence[x509.Certificate] = (),
) -> ChainSeen:
    """A ``ChainSeen`` from a chain's certificates (leaf first) and its pair classification.

    A public-trust classification's ``verified_pins`` give the keys (they end at the root even
    when the client left it out); subjects come from ``certs`` and ``known`` (e.g. the root).
    """
    subjects: dict[str, str] = {}
    for cert in [*certs, *known]:
        subjects.setdefault(spki_pin(cert), cert.subject.rfc4514_string())
    public = classification is not None and classification.kind == PUBLIC_TRUST
    if public and classification is not None and classification.verified_pins:
        pins = list(classification.verified_pins)
    else:
        pins = [spki_pin(c) for c in certs]
    return ChainSeen(
        fingerprint=fingerprint,
        reports=reports,
        public_trust=public,
        keys=tuple(KeySeen(p, subjects.get(p)) for p in pins),
        leaf_not_after=certs[0].not_valid_after_utc.date() if certs else None,
    )


def _shipped(pin_sets: PinSets) -> dict[str, int]:
    """Reports whose pin set holds each pin (a pin repeated in one set counts once)."""
    out: dict[str, int] = {}
    for pins, reports in pin_sets:
        for pin in dict.fromkeys(normalize_pin(p) for p in pins):
            if pin:
                out[pin] = out.get(pin, 0) + reports
    return out


def _rank(chains: Sequence[ChainSeen]) -> list[ChainSeen]:
    return sorted((c for c in chains if c.keys), key=lambda c: (-c.reports, c.fingerprint))


def _noun(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


class _Pins:
    """The recommended pins in order, each once."""

    def __init__(self, shipped: dict[str, int]) -> None:
        self.items: list[dict[str, Any]] = []
        self.shipped = shipped

    def add(self, key: KeySeen, role: str, why: str) -> None:
        if len(self.items) >= MAX_PINS or any(i["pin"] == key.pin for i in self.items):
            return
        n = self.shipped.get(key.pin)
        if n:
            why += f" Already in the pin sets of {_noun(n, 'report')}."
        self.items.append({"pin": key.pin, "role": role, "why": why, "subject": key.subject})

    @property
    def backups(self) -> int:
        return sum(1 for i in self.items if i["role"] == "backup")


def _ca_keys(chain: ChainSeen, public: bool) -> list[tuple[KeySeen, str]]:
    """The CA keys of a chain after its leaf, each with what it is."""
    out = []
    last = len(chain.keys) - 1
    for i, key in enumerate(chain.keys[1:], start=1):
        name = f" ({key.subject})" if key.subject else ""
        if i == last and public:
            out.append((key, f"Key of the public root{name} that chain verifies to: any "
                             "certificate of that CA hierarchy passes, so it survives a "
                             "change of leaf and of issuing CA."))
        else:
            out.append((key, f"Key of the issuing CA{name} of that chain: a new leaf from "
                             "the same CA passes."))
    return out


def recommended_pins(chains: Sequence[ChainSeen], pin_sets: PinSets) -> dict[str, Any]:
    """The recommended pin set of one host, with why for each pin.

    Returns ``pins`` [{``pin``, ``role`` (primary|backup), ``why``, ``subject``}],
    ``trustkit`` ({``kTSKPublicKeyHashes``, ``kTSKExpirationDate``}, null without a primary),
    ``android_nsc`` (the ``<pin-set>`` XML, null without a primary), ``expiration`` (hint: the
    primary leaf certificate's expiry, after which its key is likely to rotate) and ``why``
    (null, or what is missing: no primary, or no backup seen).
    """
    shipped = _shipped(pin_sets)
    public = _rank([c for c in chains if c.public_trust])
    primary_chain, why_primary = None, ""
    if public:
        primary_chain = public[0]
        why_primary = (f"Leaf key of the most-reported public-trust chain of this host "
                       f"({_noun(primary_chain.reports, 'report')}): the key it serves now, "
                       "missing from the app's pins.")
    else:
        matching = _rank([c for c in chains if any(k.pin in shipped for k in c.keys)])
        if matching:
            primary_chain = matching[0]
            why_primary = (f"No public-trust chain was reported; leaf key of the most-reported "
                           f"chain holding a pin the clients already ship "
                           f"({_noun(primary_chain.reports, 'report')}).")
    if primary_chain is None:
        return {
            "pins": [], "trustkit": None, "android_nsc": None, "expiration": None,
            "why": "No public-trust chain, and no chain holding a pin the clients ship, was "
                   "reported for this host: pin the key it serves (`pin-collector pin HOST`) "
                   "and a backup key held offline.",
        }
    pins = _Pins(shipped)
    pins.add(primary_chain.keys[0], "primary", why_primary)
    for key, why in _ca_keys(primary_chain, primary_chain.public_trust):
        pins.add(key, "backup", why)
    own_cas = {k.pin for k in primary_chain.keys[1:]}
    for other in public:
        if other is primary_chain or own_cas & {k.pin for k in other.keys[1:]}:
            continue  # same CA: its keys are already in, or a leaf the CA keys cover
        pins.add(other.keys[0], "backup",
                 f"Leaf key of another public-trust chain of this host "
                 f"({_noun(other.reports, 'report')}), from a different CA.")
        for key, why in _ca_keys(other, True):
            pins.add(key, "backup", why.replace("that chain", "that other chain"))
    if not pins.backups:
        for pin in sorted(shipped, key=lambda p: (-shipped[p], p)):
            pins.add(KeySeen(pin), "backup",
                     "No other key was seen for this host; the clients ship this pin: keep it "
                     "only while you hold its key offline.")
    missing = None
    if not pins.backups:
        missing = "No backup key was seen: generate a key pair, keep it offline and add its pin."
    expires = primary_chain.leaf_not_after
    hashes = [i["pin"] for i in pins.items]
    attr = f' expiration="{expires.isoformat()}"' if expires else ""
    nsc = "\n".join([f"<pin-set{attr}>",
                     *(f'    <pin digest="SHA-256">{p}</pin>' for p in hashes), "</pin-set>"])
    return {
        "pins": pins.items,
        "trustkit": {"kTSKPublicKeyHashes": hashes,
                     "kTSKExpirationDate": expires.isoformat() if expires else None},
        "android_nsc": nsc,
        "expiration": expires.isoformat() if expires else None,
        "why": missing,
    }
