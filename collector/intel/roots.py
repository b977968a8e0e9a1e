"""The public roots, and whether a chain verifies to one of them for a host at a given time.

Verification uses the time of the report rather than now: a report is about what the device
saw then, and reports arrive late or get replayed from queues.
"""

from __future__ import annotations

import datetime
import ipaddress
import warnings
from collections.abc import Sequence
from typing import Any

import certifi
from cryptography import x509
from cryptography.x509.verification import PolicyBuilder, Store

from collector.intake.chains import PEM_BLOCK


def read_roots(path: str | None) -> bytes:
    """The PEM bundle at ``path``, or certifi's when None."""
    with open(path or certifi.where(), "rb") as fh:
        return fh.read()


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


def _leaf_name(leaf: x509.Certificate) -> x509.DNSName | x509.IPAddress | None:
    """A server name the leaf itself covers (its first usable SAN; a wildcard label becomes a
    concrete one), so the verifier's name check passes by construction; None without a SAN."""
    try:
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    ips = san.get_values_for_type(x509.IPAddress)
    if ips:
        return x509.IPAddress(ips[0])
    for dns in san.get_values_for_type(x509.DNSName):
        name = "wildcard" + dns[1:] if dns.startswith("*.") else dns
        found = _server_name(name)
        if found is not None:
            return found
    return None


class PublicRoots:
    """The trust store and verification policy; build once per process."""

    def __init__(self, pem: bytes) -> None:
        roots = load_roots(pem)
        self._store = Store(roots) if roots else None
        self._policies = _relaxed_policies()

    def verified_path(
        self, certs: Sequence[x509.Certificate], hostname: str, at: datetime.datetime
    ) -> list[x509.Certificate] | None:
        """The path from ``certs[0]`` (leaf first) to a public root, valid for ``hostname`` at
        ``at``, ending at the store's root even when the client omitted it; None otherwise.

        May raise on inputs that are not certificates, names or times at all.
        """
        subject = _server_name(hostname)
        if self._store is None or not certs or subject is None:
            return None
        return self._verify(self._store, certs, subject, at)

    def verified_path_any_host(
        self, certs: Sequence[x509.Certificate], at: datetime.datetime
    ) -> list[x509.Certificate] | None:
        """As ``verified_path``, for whichever host the leaf names (no hostname check): the
        chain's own trust, used for its issuer-level class. May raise as ``verified_path``."""
        if self._store is None or not certs:
            return None
        subject = _leaf_name(certs[0])
        if subject is None:
            return None
        return self._verify(self._store, certs, subject, at)

    def _verify(
        self,
        store: Store,
        certs: Sequence[x509.Certificate],
        subject: x509.DNSName | x509.IPAddress,
        at: datetime.datetime,
    ) -> list[x509.Certificate] | None:
        if at.tzinfo is not None:
            at = at.astimezone(datetime.UTC)
        builder = PolicyBuilder().store(store).time(at)
        if self._policies:
            builder = builder.extension_policies(**self._policies)
        verifier = builder.build_server_verifier(subject)
        try:
            # The verifier ignores a copy of the trust anchor among the intermediates.
            return verifier.verify(certs[0], list(certs[1:]))
        except Exception:  # VerificationError, or ValueError on odd names/keys
            return None
