"""chains: strict PEM framing, DER parsing, fingerprints and SPKI pins (pure functions)."""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from collector.intake import chains
from collector.intake.chains import ChainError, der_to_pem, fingerprint, parse_chain, pem_to_der
from tests.helpers import example_doc


def cert(cn: str, issuer: str | None = None) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    issuer_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer or cn)])
    built = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_name)
             .public_key(key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(datetime(2025, 1, 1)).not_valid_after(datetime(2035, 1, 1))
             .sign(key, hashes.SHA256()))
    return built.public_bytes(serialization.Encoding.DER)


LEAF = cert("leaf.example.com", "Proxy CA")
ROOT = cert("Proxy CA")


def test_pem_round_trip_and_layouts() -> None:
    pem = der_to_pem(LEAF)
    assert pem_to_der(pem) == LEAF
    assert pem_to_der(pem.replace("\n", "\r\n")) == LEAF
    assert pem_to_der(pem.rstrip("\n")) == LEAF
    assert pem_to_der("  \n" + pem.replace("\n", "\n ") + "\n\n") == LEAF


@pytest.mark.parametrize("bad", [
    "", "MIIB", der_to_pem(LEAF) * 2, der_to_pem(LEAF) + "trailing",
    "junk" + der_to_pem(LEAF), der_to_pem(LEAF).replace("CERTIFICATE", "PRIVATE KEY"),
    der_to_pem(LEAF).replace("CERTIFICATE", "PUBLIC KEY"),
    "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----",
    "-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----",
    "-----BEGIN CERTIFICATE-----\nA===\n-----END CERTIFICATE-----",
    "-----BEGIN CERTIFICATE-----\n" + "A" * (chains.MAX_PEM_CHARS) + "\n-----END CERTIFICATE-----",
])
def test_framing_errors(bad: str) -> None:
    with pytest.raises(ChainError):
        parse_chain((bad,))


@pytest.mark.parametrize("der", [LEAF + b"\x00", LEAF[:-1], b"\x30\x00", b"\x04\x01\x00",
                                 b"\x30\x84\x7f\xff\xff\xff" + b"\x00" * 32])
def test_der_errors(der: bytes) -> None:
    with pytest.raises(ChainError):
        parse_chain((der_to_pem(der),))


def test_fingerprint_drops_a_final_self_issued_root_only() -> None:
    both = fingerprint([LEAF, ROOT])
    assert both == fingerprint([LEAF]) == hashlib.sha256(LEAF).hexdigest()
    assert fingerprint([ROOT]) == hashlib.sha256(ROOT).hexdigest()  # a lone root is kept
    assert fingerprint([ROOT, LEAF]) == hashlib.sha256(ROOT + LEAF).hexdigest()


def test_spki_pins_leaf_first() -> None:
    chain = parse_chain((der_to_pem(LEAF), der_to_pem(ROOT)))
    spki = x509.load_der_x509_certificate(LEAF).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert chain.pins[0] == base64.b64encode(hashlib.sha256(spki).digest()).decode()
    assert len(chain.pins) == 2 and chain.ders == (LEAF, ROOT)
    assert chain.cert_hashes == (hashlib.sha256(LEAF).hexdigest(),
                                 hashlib.sha256(ROOT).hexdigest())


def test_golden_example_chain() -> None:
    pems = tuple(example_doc("trustkit-ios.json")["validated-certificate-chain"])
    chain = parse_chain(pems)
    assert chain.fingerprint == "eaa82f0fbf1e1c87fb2b8c5f921bf7644a4a30f38e52b1410b0994e4d91c4a5f"
    assert chain.pins == ("geS8pKpZZHt1wYdBDjCr2weOv/VtKXRUYegJD2KG4nU=",
                          "63KpXykawd26j9j/pF0xz5X5qOue41evrtmWzrERQQA=")
