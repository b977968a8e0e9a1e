"""Product recognition (SPEC §6): bundled CA names, operator entries and CA keys."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import certifi
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from collector.intake.chains import spki_pin
from collector.intel.classify import PUBLIC_TRUST, UNKNOWN, Classification, Classifier
from collector.intel.products import (
    INTERCEPTION_TOOL,
    TLS_INSPECTION,
    bundled_products,
    compile_products,
)
from collector.intel.roots import load_roots
from tests.intel.pki import HOST, NOW, PKI, Attrs, Key, cn, make_cert, name, new_key, pem

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
