"""Who issued an offending chain: a debugging proxy, an inspection product, a public CA, or nobody.

Analysts triage pin failures by cause, so every chain gets one of four kinds (SPEC §6). Known
products are recognised first (``products``), because a corporate proxy whose root an admin
pushed into a trust store must never be mistaken for the operator's new key. Only then is the
chain verified against the public roots (``roots``), at the time of the report rather than now.

Two verdicts exist (SPEC §6): the PAIR's (``classify``: the chain as seen for one hostname, so
a public chain whose leaf does not cover that host is ``unknown``) and the CHAIN's own
(``classify_chain``: by issuer, public-trust whatever hosts the leaf covers). ``version`` names
the data both depend on, so a stored verdict can be recognised as stale.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from collector.intake.chains import spki_pin
from collector.intel.products import INTERCEPTION_TOOL as INTERCEPTION_TOOL
from collector.intel.products import TLS_INSPECTION as TLS_INSPECTION
from collector.intel.products import Products, bundled_products, operator_products
from collector.intel.roots import PublicRoots, read_roots

PUBLIC_TRUST = "public-trust"
UNKNOWN = "unknown"


@dataclasses.dataclass(frozen=True)
class Classification:
    """The verdict on one chain. ``verified_pins`` (public-trust only) are the SPKI pins of the
    verified path, leaf first and ending at the store's root even when the client omitted it:
    exactly the pins that would have made this chain pass."""

    kind: str
    label: str | None
    verified_pins: tuple[str, ...] = ()


UNKNOWN_CHAIN = Classification(UNKNOWN, None)
VERSION_HEX = 12


def _short_name(name: x509.Name) -> str:
    for oid in (NameOID.COMMON_NAME, NameOID.ORGANIZATION_NAME):
        for attr in name.get_attributes_for_oid(oid):
            if isinstance(attr.value, str) and attr.value:
                return attr.value
    return name.rfc4514_string()


class Classifier:
    """Classifies chains; build once per process (roots and regexes are compiled here)."""

    def __init__(
        self, public_roots_pem: bytes, extra_products: Sequence[Mapping[str, Any]] = ()
    ) -> None:
        # Operator entries first, so they can relabel something the bundled list also knows.
        entries = [*extra_products, *bundled_products()]
        self._products = Products(entries)
        self._roots = PublicRoots(public_roots_pem)
        self.version = classifier_version(public_roots_pem, entries)

    @classmethod
    def from_files(cls, roots_path: str | None, products_path: str | None = None) -> Classifier:
        """Load roots (certifi's bundle when None) and an optional operator products JSON."""
        roots_pem = read_roots(roots_path)
        return cls(roots_pem, operator_products(products_path))

    def classify(
        self, certs: Sequence[x509.Certificate], hostname: str, at: datetime.datetime
    ) -> Classification:
        """The PAIR's kind and label: a chain (leaf first) seen for ``hostname`` at ``at``.

        A publicly trusted chain whose leaf does not cover ``hostname`` is ``unknown`` with a
        label that says so. Never raises.
        """
        try:
            product = self._products.match(certs)
            if product is not None:
                return Classification(product.kind, product.label)
            found = self._public_trust(certs, hostname, at)
            if found is not None:
                return found
            public = self._public_trust(certs, None, at)
            if public is not None:
                return Classification(UNKNOWN, f"{public.label}: leaf does not cover this host")
            return UNKNOWN_CHAIN
        except Exception:  # hostile certificates must cost a report its label, nothing more
            return UNKNOWN_CHAIN

    def classify_chain(
        self, certs: Sequence[x509.Certificate], at: datetime.datetime
    ) -> Classification:
        """The CHAIN's own kind and label, by issuer: a known product, else public-trust when
        it verifies to a public root at ``at`` whatever hosts its leaf covers; never raises."""
        try:
            product = self._products.match(certs)
            if product is not None:
                return Classification(product.kind, product.label)
            return self._public_trust(certs, None, at) or UNKNOWN_CHAIN
        except Exception:
            return UNKNOWN_CHAIN

    def _public_trust(
        self, certs: Sequence[x509.Certificate], hostname: str | None, at: datetime.datetime
    ) -> Classification | None:
        if hostname is None:
            path = self._roots.verified_path_any_host(certs, at)
        else:
            path = self._roots.verified_path(certs, hostname, at)
        if path is None:
            return None
        return Classification(
            PUBLIC_TRUST, _short_name(path[-1].subject), tuple(spki_pin(c) for c in path)
        )


def classifier_version(public_roots_pem: bytes, products: Sequence[Mapping[str, Any]]) -> str:
    """First 12 hex of SHA-256 over the roots PEM and the product entries (operator first):
    any change of either changes it."""
    digest = hashlib.sha256(public_roots_pem)
    digest.update(b"\0")
    digest.update(json.dumps(list(products), sort_keys=True, separators=(",", ":"),
                             default=str).encode("utf-8"))
    return digest.hexdigest()[:VERSION_HEX]
