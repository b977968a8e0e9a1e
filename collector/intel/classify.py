"""Who issued an offending chain: a debugging proxy, an inspection product, a public CA, or nobody.

Analysts triage pin failures by cause, so every chain gets one of four kinds (SPEC §6). Known
products are recognised first (``products``), because a corporate proxy whose root an admin
pushed into a trust store must never be mistaken for the operator's new key. Only then is the
chain verified against the public roots (``roots``), at the time of the report rather than now.
"""

from __future__ import annotations

import dataclasses
import datetime
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
        self._products = Products([*extra_products, *bundled_products()])
        self._roots = PublicRoots(public_roots_pem)

    @classmethod
    def from_files(cls, roots_path: str | None, products_path: str | None = None) -> Classifier:
        """Load roots (certifi's bundle when None) and an optional operator products JSON."""
        roots_pem = read_roots(roots_path)
        return cls(roots_pem, operator_products(products_path))

    def classify(
        self, certs: Sequence[x509.Certificate], hostname: str, at: datetime.datetime
    ) -> Classification:
        """Kind and label of a chain (leaf first) seen for ``hostname`` at ``at``; never raises."""
        try:
            product = self._products.match(certs)
            if product is not None:
                return Classification(product.kind, product.label)
            return self._public_trust(certs, hostname, at) or UNKNOWN_CHAIN
        except Exception:  # hostile certificates must cost a report its label, nothing more
            return UNKNOWN_CHAIN

    def _public_trust(
        self, certs: Sequence[x509.Certificate], hostname: str, at: datetime.datetime
    ) -> Classification | None:
        path = self._roots.verified_path(certs, hostname, at)
        if path is None:
            return None
        return Classification(
            PUBLIC_TRUST, _short_name(path[-1].subject), tuple(spki_pin(c) for c in path)
        )
