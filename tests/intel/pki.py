"""A small PKI minted per test run: certificates shaped like WebPKI ones, for the intel tests."""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

UTC = datetime.UTC
NOW = datetime.datetime.now(UTC)
DAY = datetime.timedelta(days=1)
HOST = "api.example.com"

Key = ec.EllipticCurvePrivateKey
Attrs = Sequence[tuple[x509.ObjectIdentifier, str]]


def new_key() -> Key:
    return ec.generate_private_key(ec.SECP256R1())


def name(attrs: Attrs) -> x509.Name:
    return x509.Name([x509.NameAttribute(oid, value) for oid, value in attrs])


def cn(value: str) -> x509.Name:
    return name([(NameOID.COMMON_NAME, value)])


def make_cert(
    subject: x509.Name,
    key: Key,
    *,
    issuer: x509.Name | None = None,
    signer: Key | None = None,
    ca: bool,
    hosts: Sequence[str] = (),
    not_before: datetime.datetime = NOW - 30 * DAY,
    not_after: datetime.datetime = NOW + 300 * DAY,
) -> x509.Certificate:
    """A WebPKI-shaped certificate; ``signer`` defaults to ``key`` (self-signed)."""
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer or subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key((signer or key).public_key()),
            False,
        )
    )
    if ca:
        usage = dict.fromkeys(
            ["content_commitment", "key_encipherment", "data_encipherment", "key_agreement"],
            False,
        )
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
                **usage,
            ),
            critical=True,
        )
    else:
        sans: list[x509.GeneralName] = []
        for h in hosts:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(h)))
            except ValueError:
                sans.append(x509.DNSName(h))
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
    return builder.sign(signer or key, hashes.SHA256())


def pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


class PKI:
    """A small "public" PKI: root → intermediate → leaf for HOST."""

    def __init__(
        self,
        leaf_before: datetime.datetime = NOW - 30 * DAY,
        leaf_after: datetime.datetime = NOW + 60 * DAY,
        hosts: Sequence[str] = (HOST,),
        leaf_subject: x509.Name | None = None,
    ) -> None:
        self.root_key, self.int_key, self.leaf_key = new_key(), new_key(), new_key()
        root_name = name(
            [
                (NameOID.COMMON_NAME, "Test Public Root R1"),
                (NameOID.ORGANIZATION_NAME, "Test Trust Services"),
            ]
        )
        self.root = make_cert(
            root_name,
            self.root_key,
            ca=True,
            not_before=NOW - 3000 * DAY,
            not_after=NOW + 3000 * DAY,
        )
        self.intermediate = make_cert(
            cn("Test Issuing CA 1"),
            self.int_key,
            issuer=root_name,
            signer=self.root_key,
            ca=True,
            not_before=NOW - 2000 * DAY,
            not_after=NOW + 2000 * DAY,
        )
        self.leaf = make_cert(
            leaf_subject or cn(hosts[0]),
            self.leaf_key,
            issuer=self.intermediate.subject,
            signer=self.int_key,
            ca=False,
            hosts=hosts,
            not_before=leaf_before,
            not_after=leaf_after,
        )

    @property
    def roots_pem(self) -> bytes:
        return pem(self.root)
