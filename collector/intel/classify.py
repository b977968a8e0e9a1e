"""Who issued an offending chain: a debugging proxy, an inspection product, a public CA, or nobody.

Analysts triage pin failures by cause, so every chain gets one of four kinds (SPEC §6). Known
products are recognised first, from their CA names (bundled ``data/products.json`` plus the
operator's own entries) or fixed CA keys, because a corporate proxy whose root an admin pushed
into a trust store must never be mistaken for the operator's new key. Only then is the chain
verified against the public roots, at the time of the report rather than now: a report is about
what the device saw then, and reports arrive late or get replayed from queues.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import importlib.resources
import ipaddress
import json
import pathlib
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import certifi
from cryptography import x509
from cryptography.x509.oid import NameOID
from cryptography.x509.verification import PolicyBuilder, Store

from collector.intake.chains import PEM_BLOCK, spki_pin

INTERCEPTION_TOOL = "interception-tool"
TLS_INSPECTION = "tls-inspection"
PUBLIC_TRUST = "public-trust"
UNKNOWN = "unknown"
PRODUCT_KINDS = frozenset({INTERCEPTION_TOOL, TLS_INSPECTION})

# Product names live in these attributes; C/ST/L are left out on purpose (Burp's C=PortSwigger
# is not even a valid country code, and geographic values identify nothing).
_NAME_OIDS = (NameOID.COMMON_NAME, NameOID.ORGANIZATION_NAME, NameOID.ORGANIZATIONAL_UNIT_NAME)


@dataclasses.dataclass(frozen=True)
class Classification:
    """The verdict on one chain. ``verified_pins`` (public-trust only) are the SPKI pins of the
    verified path, leaf first and ending at the store's root even when the client omitted it:
    exactly the pins that would have made this chain pass."""

    kind: str
    label: str | None
    verified_pins: tuple[str, ...] = ()


UNKNOWN_CHAIN = Classification(UNKNOWN, None)


@dataclasses.dataclass(frozen=True)
class Product:
    """One compiled products.json entry."""

    name: str
    kind: str
    label: str
    pattern: re.Pattern[str] | None
    spki_pins: frozenset[str]


def compile_products(entries: Sequence[Mapping[str, Any]]) -> list[Product]:
    """Validate and compile entries; a bad operator file fails at startup, not per report."""
    products = []
    for i, entry in enumerate(entries):
        where = f"product #{i} ({entry.get('name', '?') if isinstance(entry, Mapping) else '?'})"
        if not isinstance(entry, Mapping):
            raise ValueError(f"{where}: must be an object")
        name, kind, label = entry.get("name"), entry.get("kind"), entry.get("label")
        patterns = entry.get("patterns", [])
        pins = entry.get("spki_pins", [])
        if not isinstance(name, str) or not name:
            raise ValueError(f"{where}: 'name' must be a non-empty string")
        if kind not in PRODUCT_KINDS:
            raise ValueError(f"{where}: 'kind' must be one of {sorted(PRODUCT_KINDS)}")
        if not isinstance(label, str) or not label:
            raise ValueError(f"{where}: 'label' must be a non-empty string")
        if not isinstance(patterns, list) or not all(isinstance(p, str) and p for p in patterns):
            raise ValueError(f"{where}: 'patterns' must be a list of non-empty strings")
        if not isinstance(pins, list) or not all(isinstance(p, str) and p for p in pins):
            raise ValueError(f"{where}: 'spki_pins' must be a list of base64 SHA-256 strings")
        if not patterns and not pins:
            raise ValueError(f"{where}: needs 'patterns' or 'spki_pins'")
        try:
            pattern = re.compile("|".join(f"(?:{p})" for p in patterns), re.I) if patterns else None
        except re.error as exc:
            raise ValueError(f"{where}: bad regex: {exc}") from exc
        products.append(Product(name, kind, label, pattern, frozenset(pins)))
    return products


def bundled_products() -> list[dict[str, Any]]:
    """The curated product list shipped as package data."""
    try:
        text = (importlib.resources.files("collector.intel") / "data" / "products.json").read_text(
            "utf-8"
        )
    except (OSError, TypeError):  # a stale editable install resolves `collector` as a namespace
        text = (pathlib.Path(__file__).parent / "data" / "products.json").read_text("utf-8")
    data: list[dict[str, Any]] = json.loads(text)
    return data


def load_roots(pem: bytes) -> list[x509.Certificate]:
    """Parse a PEM bundle one block at a time, skipping roots this cryptography rejects.

    certifi ships a few roots with non-positive serials that cryptography only warns about
    today and will refuse later; one bad root must not take public-trust detection down.
    """
    roots = []
    for block in PEM_BLOCK.findall(pem):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                roots.append(x509.load_pem_x509_certificate(block))
        except ValueError:
            continue
    return roots


def _relaxed_policies() -> dict[str, Any]:
    """WebPKI extension policies minus the AKI/SKI presence rules.

    Those rules are CA/B Forum profile hygiene, not security: the signature, validity, CA and
    name checks all stay. Private test PKIs (and the SPEC's golden example) omit AKI.
    """
    try:
        from cryptography.x509.verification import Criticality, ExtensionPolicy
    except ImportError:  # cryptography < 45: strict defaults only
        return {}
    agnostic = Criticality.AGNOSTIC
    ee = ExtensionPolicy.webpki_defaults_ee().may_be_present(
        x509.AuthorityKeyIdentifier, agnostic, None
    )
    ca = (
        ExtensionPolicy.webpki_defaults_ca()
        .may_be_present(x509.AuthorityKeyIdentifier, agnostic, None)
        .may_be_present(x509.SubjectKeyIdentifier, agnostic, None)
    )
    return {"ca_policy": ca, "ee_policy": ee}


def _server_name(hostname: str) -> x509.DNSName | x509.IPAddress | None:
    """DNSName or IPAddress for the verifier; None when it cannot be a server name."""
    host = hostname.strip().rstrip(".").lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host:
        return None
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        pass
    if not host.isascii() or any(c.isspace() for c in host):
        return None  # A-labels only; a U-label here is a caller bug, not a match
    return x509.DNSName(host)


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
        self._products = compile_products([*extra_products, *bundled_products()])
        self._pinned = [p for p in self._products if p.spki_pins]
        roots = load_roots(public_roots_pem)
        self._store = Store(roots) if roots else None
        self._policies = _relaxed_policies()
        self._match_name: Callable[[x509.Name], Product | None] = functools.lru_cache(maxsize=4096)(
            self._match_name_uncached
        )

    @classmethod
    def from_files(cls, roots_path: str | None, products_path: str | None = None) -> Classifier:
        """Load roots (certifi's bundle when None) and an optional operator products JSON."""
        with open(roots_path or certifi.where(), "rb") as fh:
            roots_pem = fh.read()
        extra: list[dict[str, Any]] = []
        if products_path:
            with open(products_path, encoding="utf-8") as fh:
                extra = json.load(fh)
            if not isinstance(extra, list):
                raise ValueError(f"{products_path}: expected a JSON list of products")
        return cls(roots_pem, extra)

    @property
    def products(self) -> tuple[Product, ...]:
        return tuple(self._products)

    def classify(
        self, certs: Sequence[x509.Certificate], hostname: str, at: datetime.datetime
    ) -> Classification:
        """Kind and label of a chain (leaf first) seen for ``hostname`` at ``at``; never raises."""
        try:
            product = self._match_product(certs)
            if product is not None:
                return Classification(product.kind, product.label)
            return self._public_trust(certs, hostname, at) or UNKNOWN_CHAIN
        except Exception:  # hostile certificates must cost a report its label, nothing more
            return UNKNOWN_CHAIN

    def _match_product(self, certs: Sequence[x509.Certificate]) -> Product | None:
        for i, cert in enumerate(certs):
            # A leaf's own subject is the site's (Zscaler's website has O=Zscaler under a
            # public CA); only names that act as issuers identify an interceptor.
            names = [cert.issuer]
            if i > 0 or cert.subject == cert.issuer:
                names.append(cert.subject)
            for name in names:
                product = self._match_name(name)
                if product is not None:
                    return product
            if self._pinned:
                pin = spki_pin(cert)
                for product in self._pinned:
                    if pin in product.spki_pins:
                        return product
        return None

    def _match_name_uncached(self, name: x509.Name) -> Product | None:
        values = [
            attr.value
            for oid in _NAME_OIDS
            for attr in name.get_attributes_for_oid(oid)
            if isinstance(attr.value, str)
        ]
        for product in self._products:
            if product.pattern is not None and any(product.pattern.search(v) for v in values):
                return product
        return None

    def _public_trust(
        self, certs: Sequence[x509.Certificate], hostname: str, at: datetime.datetime
    ) -> Classification | None:
        subject = _server_name(hostname)
        if self._store is None or not certs or subject is None:
            return None
        if at.tzinfo is not None:
            at = at.astimezone(datetime.UTC)
        builder = PolicyBuilder().store(self._store).time(at)
        if self._policies:
            builder = builder.extension_policies(**self._policies)
        verifier = builder.build_server_verifier(subject)
        try:
            # The verifier ignores a copy of the trust anchor among the intermediates.
            path = verifier.verify(certs[0], list(certs[1:]))
        except Exception:  # VerificationError, or ValueError on odd names/keys
            return None
        return Classification(
            PUBLIC_TRUST, _short_name(path[-1].subject), tuple(spki_pin(c) for c in path)
        )
