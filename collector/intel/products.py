"""Known interception products: the bundled list, the operator's own entries, and matching.

A product is recognised from its CA names (``data/products.json`` plus the operator's file) or
from fixed CA keys. Entries are validated and compiled once, so a bad operator file fails at
startup, not per report.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.resources
import json
import pathlib
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from collector.intake.chains import self_issued, spki_pin

INTERCEPTION_TOOL = "interception-tool"
TLS_INSPECTION = "tls-inspection"
PRODUCT_KINDS = frozenset({INTERCEPTION_TOOL, TLS_INSPECTION})

# Product names live in these attributes; C/ST/L are left out on purpose (Burp's C=PortSwigger
# is not even a valid country code, and geographic values identify nothing).
_NAME_OIDS = (NameOID.COMMON_NAME, NameOID.ORGANIZATION_NAME, NameOID.ORGANIZATIONAL_UNIT_NAME)


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


def operator_products(path: str | None) -> list[dict[str, Any]]:
    """The operator's own products JSON (a list of entries); none when ``path`` is unset."""
    extra: list[dict[str, Any]] = []
    if path:
        with open(path, encoding="utf-8") as fh:
            extra = json.load(fh)
        if not isinstance(extra, list):
            raise ValueError(f"{path}: expected a JSON list of products")
    return extra


class Products:
    """Compiled entries, first match wins; build once per process (regexes compile here)."""

    def __init__(self, entries: Sequence[Mapping[str, Any]]) -> None:
        self._products = compile_products(entries)
        self._pinned = [p for p in self._products if p.spki_pins]
        self._match_name: Callable[[x509.Name], Product | None] = functools.lru_cache(maxsize=4096)(
            self._match_name_uncached
        )

    def match(self, certs: Sequence[x509.Certificate]) -> Product | None:
        """The product whose CA names or key appear in a chain (leaf first), if any."""
        for i, cert in enumerate(certs):
            # A leaf's own subject is the site's (Zscaler's website has O=Zscaler under a
            # public CA); only names that act as issuers identify an interceptor.
            names = [cert.issuer]
            if i > 0 or self_issued(cert):
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
