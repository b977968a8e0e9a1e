"""Chain classification (SPEC §6) over chains minted here, plus the shared golden examples."""

from __future__ import annotations

import datetime
import ipaddress
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import certifi
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from collector.intake.chains import parse_chain, spki_pin
from collector.intel.classify import (
    INTERCEPTION_TOOL,
    PUBLIC_TRUST,
    TLS_INSPECTION,
    UNKNOWN,
    Classification,
    Classifier,
    bundled_products,
    compile_products,
    load_roots,
)
from tests.helpers import EXAMPLES

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


@pytest.fixture(scope="module")
def pki() -> PKI:
    return PKI()


@pytest.fixture(scope="module")
def classifier(pki: PKI) -> Classifier:
    return Classifier(pki.roots_pem)


# One realistic default CA name per bundled product (the test fails if a product lacks one).
REALISTIC: dict[str, Attrs] = {
    "mitmproxy": [(NameOID.COMMON_NAME, "mitmproxy"), (NameOID.ORGANIZATION_NAME, "mitmproxy")],
    "burp": [
        (NameOID.ORGANIZATION_NAME, "PortSwigger"),
        (NameOID.ORGANIZATIONAL_UNIT_NAME, "PortSwigger CA"),
        (NameOID.COMMON_NAME, "PortSwigger CA"),
    ],
    "charles": [
        (NameOID.COMMON_NAME, "Charles Proxy CA (27 Nov 2026, my-laptop.local)"),
        (NameOID.ORGANIZATIONAL_UNIT_NAME, "https://charlesproxy.com/ssl"),
        (NameOID.ORGANIZATION_NAME, "XK72 Ltd"),
        (NameOID.COUNTRY_NAME, "NZ"),
    ],
    "fiddler": [
        (NameOID.COMMON_NAME, "DO_NOT_TRUST_FiddlerRoot"),
        (NameOID.ORGANIZATION_NAME, "DO_NOT_TRUST"),
        (NameOID.ORGANIZATIONAL_UNIT_NAME, "Created by http://www.fiddler2.com"),
    ],
    "proxyman": [
        (NameOID.COMMON_NAME, "Proxyman CA (27 Nov 2026, MacBook-Pro.local)"),
        (NameOID.ORGANIZATION_NAME, "Proxyman Inc"),
        (NameOID.ORGANIZATIONAL_UNIT_NAME, "Proxyman"),
    ],
    "httptoolkit": [
        (NameOID.COMMON_NAME, "HTTP Toolkit CA"),
        (NameOID.ORGANIZATION_NAME, "HTTP Toolkit"),
    ],
    "zap": [
        (NameOID.COMMON_NAME, "OWASP Zed Attack Proxy Root CA"),
        (NameOID.ORGANIZATION_NAME, "OWASP Root CA"),
        (NameOID.ORGANIZATIONAL_UNIT_NAME, "OWASP ZAP Root CA"),
    ],
    "zscaler": [
        (NameOID.COMMON_NAME, "Zscaler Root CA"),
        (NameOID.ORGANIZATION_NAME, "Zscaler Inc."),
        (NameOID.ORGANIZATIONAL_UNIT_NAME, "Zscaler Inc."),
    ],
    "netskope": [
        (NameOID.COMMON_NAME, "ca.acme-corp.goskope.com"),
        (NameOID.ORGANIZATION_NAME, "Acme Corp"),
    ],
    "fortinet": [
        (NameOID.COMMON_NAME, "FGT60E4Q16012345"),
        (NameOID.ORGANIZATIONAL_UNIT_NAME, "Certificate Authority"),
    ],
    "paloalto": [
        (NameOID.COMMON_NAME, "Forward-Trust-CA"),
        (NameOID.ORGANIZATION_NAME, "Palo Alto Networks"),
    ],
    "bluecoat": [
        (NameOID.COMMON_NAME, "ProxySG Issuer CA"),
        (NameOID.ORGANIZATION_NAME, "Acme Corp"),
    ],
    "sophos": [
        (NameOID.COMMON_NAME, "Sophos SSL CA_C1234567890"),
        (NameOID.ORGANIZATION_NAME, "Acme Corp"),
    ],
    "kaspersky": [(NameOID.COMMON_NAME, "Kaspersky Anti-Virus Personal Root Certificate")],
    "eset": [
        (NameOID.COMMON_NAME, "ESET SSL Filter CA"),
        (NameOID.ORGANIZATION_NAME, "ESET, spol. s r. o."),
    ],
    "avast": [
        (NameOID.COMMON_NAME, "Avast Web/Mail Shield Root"),
        (NameOID.ORGANIZATION_NAME, "Avast Web/Mail Shield"),
    ],
    "avg": [
        (NameOID.COMMON_NAME, "AVG Web/Mail Shield Root"),
        (NameOID.ORGANIZATION_NAME, "AVG Web/Mail Shield"),
    ],
    "norton": [(NameOID.COMMON_NAME, "Norton Web/Mail Shield Root")],
    "bitdefender": [
        (NameOID.COMMON_NAME, "Bitdefender Personal CA.Net-Defender"),
        (NameOID.ORGANIZATION_NAME, "Bitdefender"),
    ],
    "checkpoint": [
        (NameOID.COMMON_NAME, "acme-gw.corp"),
        (NameOID.ORGANIZATION_NAME, "Check Point Software Technologies"),
    ],
    "cisco-umbrella": [
        (NameOID.COMMON_NAME, "Cisco Umbrella Root CA"),
        (NameOID.ORGANIZATION_NAME, "Cisco"),
    ],
    "forcepoint": [(NameOID.COMMON_NAME, "Forcepoint Cloud Web Security Root CA")],
    "mcafee-wg": [
        (NameOID.COMMON_NAME, "McAfee Web Gateway"),
        (NameOID.ORGANIZATION_NAME, "Acme Corp"),
    ],
    "cloudflare-gateway": [
        (NameOID.COMMON_NAME, "Gateway CA - Cloudflare Managed G1 a1b2c3"),
        (NameOID.ORGANIZATION_NAME, "Cloudflare, Inc."),
    ],
    "watchguard": [
        (NameOID.COMMON_NAME, "Fireware HTTPS Proxy"),
        (NameOID.ORGANIZATION_NAME, "WatchGuard_Technologies"),
    ],
    "sonicwall": [(NameOID.COMMON_NAME, "HTTPS Management Certificate for SonicWALL")],
}
PRODUCTS = {p["name"]: p for p in bundled_products()}


def test_every_product_has_a_realistic_example() -> None:
    assert set(REALISTIC) == set(PRODUCTS)
    assert all(p["kind"] in (INTERCEPTION_TOOL, TLS_INSPECTION) for p in PRODUCTS.values())
    assert all(p["source"] for p in PRODUCTS.values())


@pytest.mark.parametrize("product", sorted(PRODUCTS))
def test_product_ca_is_recognised(product: str, classifier: Classifier) -> None:
    ca_key, leaf_key = new_key(), new_key()
    ca = make_cert(name(REALISTIC[product]), ca_key, ca=True)
    leaf = make_cert(cn(HOST), leaf_key, issuer=ca.subject, signer=ca_key, ca=False, hosts=[HOST])
    want = Classification(PRODUCTS[product]["kind"], PRODUCTS[product]["label"])
    assert classifier.classify([leaf, ca], HOST, NOW) == want  # iOS: leaf + proxy root
    assert classifier.classify([leaf], HOST, NOW) == want  # Android: leaf only, issuer tells


def test_labels() -> None:
    assert PRODUCTS["burp"]["label"] == "Burp Suite (PortSwigger CA)"
    assert PRODUCTS["charles"]["label"] == "Charles Proxy"
    assert PRODUCTS["zscaler"]["label"] == "Zscaler"


def _der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def _resign(cert: x509.Certificate, signer: Key, old: bytes, new: bytes) -> x509.Certificate:
    """Patch the TBS bytes (same length) and re-sign: builds names cryptography won't build."""
    tbs = cert.tbs_certificate_bytes
    assert old in tbs and len(old) == len(new)
    tbs = tbs.replace(old, new)
    sig = signer.sign(tbs, ec.ECDSA(hashes.SHA256()))
    alg = bytes.fromhex("300a06082a8648ce3d040302")  # ecdsa-with-SHA256
    bits = b"\x03" + _der_len(len(sig) + 1) + b"\x00" + sig
    body = tbs + alg + bits
    return x509.load_der_x509_certificate(b"\x30" + _der_len(len(body)) + body)


def test_burp_non_iso_country(classifier: Classifier) -> None:
    # Burp's real CA says C=ST=L=PortSwigger. Mint C=PortSwigger as PrintableString by
    # writing it as postalCode (same length) and patching the OID in the DER.
    placeholder = bytes.fromhex("0603550411") + b"\x0c\x0bPortSwigger"
    country = bytes.fromhex("0603550406") + b"\x13\x0bPortSwigger"
    ca_name = name(
        [
            (NameOID.POSTAL_CODE, "PortSwigger"),
            (NameOID.STATE_OR_PROVINCE_NAME, "PortSwigger"),
            (NameOID.LOCALITY_NAME, "PortSwigger"),
            *REALISTIC["burp"],
        ]
    )
    ca_key, leaf_key = new_key(), new_key()
    ca = _resign(make_cert(ca_name, ca_key, ca=True), ca_key, placeholder, country)
    leaf = make_cert(cn(HOST), leaf_key, issuer=ca_name, signer=ca_key, ca=False, hosts=[HOST])
    leaf = _resign(leaf, ca_key, placeholder, country)
    with pytest.warns(UserWarning):  # cryptography flags the 11-character country on parse
        assert ca.subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value == "PortSwigger"
        assert leaf.issuer == ca.subject
    want = Classification(INTERCEPTION_TOOL, "Burp Suite (PortSwigger CA)")
    assert classifier.classify([leaf, ca], HOST, NOW) == want
    assert classifier.classify([leaf], HOST, NOW) == want


def test_charles_ca_name_carries_date_and_machine(classifier: Classifier) -> None:
    ca_key = new_key()
    ca = make_cert(cn("Charles Proxy CA (3 Feb 2025, Jane-MBP.fritz.box)"), ca_key, ca=True)
    got = classifier.classify([ca], HOST, NOW)
    assert got == Classification(INTERCEPTION_TOOL, "Charles Proxy")


def test_product_wins_over_a_root_pushed_into_the_store() -> None:
    ca_key, leaf_key = new_key(), new_key()
    ca = make_cert(name(REALISTIC["zscaler"]), ca_key, ca=True)
    leaf = make_cert(cn(HOST), leaf_key, issuer=ca.subject, signer=ca_key, ca=False, hosts=[HOST])
    got = Classifier(pem(ca)).classify([leaf, ca], HOST, NOW)
    assert got == Classification(TLS_INSPECTION, "Zscaler")


def test_leaf_subject_alone_is_not_an_interceptor() -> None:
    # zscaler.com's own certificate under a public CA names Zscaler in its subject.
    pki = PKI(
        hosts=["www.zscaler.com"],
        leaf_subject=name(
            [(NameOID.COMMON_NAME, "www.zscaler.com"), (NameOID.ORGANIZATION_NAME, "Zscaler Inc.")]
        ),
    )
    got = Classifier(pki.roots_pem).classify([pki.leaf, pki.intermediate], "www.zscaler.com", NOW)
    assert got.kind == PUBLIC_TRUST


def test_no_bundled_pattern_matches_a_public_root() -> None:
    names = [
        a.value
        for root in load_roots(Path(certifi.where()).read_bytes())
        for n in (root.subject, root.issuer)
        for oid in (
            NameOID.COMMON_NAME,
            NameOID.ORGANIZATION_NAME,
            NameOID.ORGANIZATIONAL_UNIT_NAME,
        )
        for a in n.get_attributes_for_oid(oid)
    ]
    assert len(names) > 100
    hits = [
        (p.name, v)
        for p in compile_products(bundled_products())
        for v in names
        if p.pattern is not None and isinstance(v, str) and p.pattern.search(v)
    ]
    assert hits == []


def test_public_pki_is_public_trust(pki: PKI, classifier: Classifier) -> None:
    got = classifier.classify([pki.leaf, pki.intermediate], HOST, NOW)
    assert got.kind == PUBLIC_TRUST and got.label == "Test Public Root R1"
    # The verified path reaches the root even though the client did not send it.
    assert got.verified_pins == tuple(spki_pin(c) for c in (pki.leaf, pki.intermediate, pki.root))


def test_root_included_or_not(pki: PKI, classifier: Classifier) -> None:
    with_root = classifier.classify([pki.leaf, pki.intermediate, pki.root], HOST, NOW)
    without = classifier.classify([pki.leaf, pki.intermediate], HOST, NOW)
    assert with_root == without
    assert with_root.kind == PUBLIC_TRUST


def test_validity_is_checked_at_report_time() -> None:
    pki = PKI(leaf_before=NOW - 100 * DAY, leaf_after=NOW - DAY)  # expired yesterday
    classifier = Classifier(pki.roots_pem)
    chain = [pki.leaf, pki.intermediate]
    assert classifier.classify(chain, HOST, NOW - 50 * DAY).kind == PUBLIC_TRUST
    assert classifier.classify(chain, HOST, NOW).kind == UNKNOWN
    assert classifier.classify(chain, HOST, NOW - 200 * DAY).kind == UNKNOWN  # not yet valid
    naive = (NOW - 50 * DAY).replace(tzinfo=None)  # naive means UTC
    assert classifier.classify(chain, HOST, naive).kind == PUBLIC_TRUST
    other_tz = (NOW - 50 * DAY).astimezone(datetime.timezone(datetime.timedelta(hours=-8)))
    assert classifier.classify(chain, HOST, other_tz).kind == PUBLIC_TRUST


@pytest.mark.parametrize("host", ["other.example.com", "example.com", "api.example.com.evil"])
def test_wrong_hostname(host: str, pki: PKI, classifier: Classifier) -> None:
    assert classifier.classify([pki.leaf, pki.intermediate], host, NOW).kind == UNKNOWN


def test_hostname_case_and_trailing_dot(pki: PKI, classifier: Classifier) -> None:
    for host in ("API.Example.COM", "api.example.com."):
        assert classifier.classify([pki.leaf, pki.intermediate], host, NOW).kind == PUBLIC_TRUST


def test_broken_signature(pki: PKI, classifier: Classifier) -> None:
    forged = make_cert(
        cn(HOST),
        new_key(),
        issuer=pki.intermediate.subject,
        signer=new_key(),
        ca=False,
        hosts=[HOST],
    )
    assert classifier.classify([forged, pki.intermediate], HOST, NOW).kind == UNKNOWN


def test_self_signed_leaf(classifier: Classifier) -> None:
    key = new_key()
    leaf = make_cert(cn(HOST), key, ca=False, hosts=[HOST])
    assert classifier.classify([leaf], HOST, NOW) == Classification(UNKNOWN, None)


def test_private_root_is_unknown(pki: PKI) -> None:
    other = PKI()
    assert (
        Classifier(other.roots_pem).classify([pki.leaf, pki.intermediate], HOST, NOW).kind
        == UNKNOWN
    )


def test_ip_address_hostnames() -> None:
    pki = PKI(hosts=["10.1.2.3", "2001:db8::1"])
    classifier = Classifier(pki.roots_pem)
    chain = [pki.leaf, pki.intermediate]
    assert classifier.classify(chain, "10.1.2.3", NOW).kind == PUBLIC_TRUST
    assert classifier.classify(chain, "[2001:db8::1]", NOW).kind == PUBLIC_TRUST
    assert classifier.classify(chain, "10.1.2.4", NOW).kind == UNKNOWN


@pytest.mark.parametrize(
    "host",
    [
        "",
        "a..b",
        "1.2.3.4",
        ".",
        "*.example.com",
        "bücher.example",
        "a b",
        "[::1",
        "x" * 300,
        "-",
        "::",
        "\x00",
    ],
)
def test_garbage_hostnames_never_raise(host: str, pki: PKI, classifier: Classifier) -> None:
    assert classifier.classify([pki.leaf, pki.intermediate], host, NOW).kind == UNKNOWN


def test_garbage_chains_never_raise(classifier: Classifier) -> None:
    assert classifier.classify([], HOST, NOW).kind == UNKNOWN
    junk: Any = [None, "not a cert"]
    assert classifier.classify(junk, HOST, NOW).kind == UNKNOWN
    assert classifier.classify(junk, HOST, junk).kind == UNKNOWN


def test_no_roots_means_never_public_trust(pki: PKI) -> None:
    got = Classifier(b"").classify([pki.leaf, pki.intermediate], HOST, NOW)
    assert got.kind == UNKNOWN


def _example(file: str, key: str) -> tuple[list[x509.Certificate], str, datetime.datetime]:
    report = json.loads((EXAMPLES / file).read_text())
    at = datetime.datetime.fromisoformat(report["date-time"])
    return parse_chain(tuple(report[key])).certificates, report["hostname"], at


@pytest.mark.parametrize("key", ["served-certificate-chain", "validated-certificate-chain"])
def test_golden_chromium_chain_is_public_trust(key: str) -> None:
    classifier = Classifier.from_files(str(EXAMPLES / "public-root.pem"))
    certs, host, at = _example("chromium-hpkp.json", key)
    got = classifier.classify(certs, host, at)
    assert got.kind == PUBLIC_TRUST and got.label == "Example Public Root R1"
    assert got.verified_pins == (
        "FkcecKS4/1ezi5+WULXkgClhPhZo/2FBIMxCLuirxuY=",
        "GOWj8Bj2g13KpNcl+TelAozf8VPSUV6b9FWJx728SXI=",
        "3Eg0a+0XEJaNrncSZ01AbLDOBR1VlgP/J64JzoaML8U=",
    )
    assert classifier.classify(certs, "www.example.com", at).kind == UNKNOWN


def test_golden_trustkit_chain_is_not_public_trust() -> None:
    certs, host, at = _example("trustkit-ios.json", "validated-certificate-chain")
    assert Classifier.from_files(None).classify(certs, host, at).kind == UNKNOWN


def test_golden_2015_capture_is_not_public_trust_today() -> None:
    certs, host, at = _example("trustkit-ios-captured-2015.json", "validated-certificate-chain")
    assert Classifier.from_files(None).classify(certs, host, at).kind == UNKNOWN


def test_operator_products_and_spki_pins(tmp_path: Path, pki: PKI) -> None:
    ca_key = new_key()
    ca = make_cert(cn("Acme Egress Inspection"), ca_key, ca=True)
    leaf = make_cert(cn(HOST), new_key(), issuer=ca.subject, signer=ca_key, ca=False, hosts=[HOST])
    extra = [
        {
            "name": "acme-pinned",
            "kind": "tls-inspection",
            "label": "Acme DLP (by key)",
            "patterns": [],
            "spki_pins": [spki_pin(ca)],
            "source": "our own proxy",
        },
        {
            "name": "zscaler-local",
            "kind": "tls-inspection",
            "label": "Zscaler (Acme tenant)",
            "patterns": ["zscaler"],
            "source": "override",
        },
    ]
    products = tmp_path / "products.json"
    products.write_text(json.dumps(extra))
    classifier = Classifier.from_files(None, str(products))
    assert classifier.classify([leaf, ca], HOST, NOW).label == "Acme DLP (by key)"
    assert classifier.classify([leaf], HOST, NOW).kind == UNKNOWN  # CA key absent
    z_key = new_key()
    z = make_cert(name(REALISTIC["zscaler"]), z_key, ca=True)
    assert classifier.classify([z], HOST, NOW).label == "Zscaler (Acme tenant)"


@pytest.mark.parametrize(
    "entry",
    [
        {"name": "x", "kind": "public-trust", "label": "X", "patterns": ["x"]},
        {"name": "x", "kind": "tls-inspection", "label": "", "patterns": ["x"]},
        {"name": "x", "kind": "tls-inspection", "label": "X", "patterns": ["("]},
        {"name": "x", "kind": "tls-inspection", "label": "X", "patterns": []},
        {"name": "x", "kind": "tls-inspection", "label": "X", "patterns": "x"},
        {"kind": "tls-inspection", "label": "X", "patterns": ["x"]},
    ],
)
def test_bad_operator_products_fail_at_startup(entry: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Classifier(b"", [entry])


def test_roots_loader_skips_garbage(pki: PKI) -> None:
    bogus = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    assert load_roots(bogus + pki.roots_pem + b"junk") == [pki.root]
