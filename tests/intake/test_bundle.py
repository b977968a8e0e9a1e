"""The rehearsal upload: strict PEM, one to ten certificates, nothing else, nothing echoed."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import serialization

from collector.intake.bundle import MAX_BUNDLE_BYTES, BundleError, parse_bundle
from collector.intake.chains import spki_pin
from tests.intel.pki import PKI, pem


@pytest.fixture(scope="module")
def pki() -> PKI:
    return PKI()


def test_a_chain_leaf_first_in_any_line_ending(pki: PKI) -> None:
    body = pem(pki.leaf, pki.intermediate, pki.root)
    for variant in (body, body.replace(b"\n", b"\r\n"), b"\n\n  " + body.rstrip() + b"  \n"):
        ders = parse_bundle(variant)
        assert ders == [c.public_bytes(serialization.Encoding.DER)
                        for c in (pki.leaf, pki.intermediate, pki.root)]


def _refused(body: bytes) -> str:
    with pytest.raises(BundleError) as info:
        parse_bundle(body)
    message = str(info.value)
    assert len(message) < 200
    return message


def test_hostile_uploads_are_refused_with_fixed_messages(pki: PKI) -> None:
    leaf = pem(pki.leaf)
    key = pki.leaf_key.private_bytes(serialization.Encoding.PEM,
                                     serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption())
    assert "private key" in _refused(leaf + key)
    assert "private key" in _refused(key)
    legacy = pki.leaf_key.private_bytes(serialization.Encoding.PEM,
                                        serialization.PrivateFormat.TraditionalOpenSSL,
                                        serialization.NoEncryption())
    assert "private key" in _refused(legacy + leaf)
    assert "1 to 10" in _refused(leaf * 11)
    assert parse_bundle(leaf * 10)  # ten is fine
    assert "1 to 10" in _refused(b"")
    assert "1 to 10" in _refused(b"   \n")
    assert "1 to 10" in _refused(b"hello, not a chain")
    assert "outside" in _refused(b"subject=CN=api.example.com\n" + leaf)
    assert "outside" in _refused(leaf + b"trailing words")
    assert "not PEM text" in _refused(b"\xff\xfe" + leaf)
    assert "larger" in _refused(leaf + b" " * MAX_BUNDLE_BYTES)
    # a block cut short, nested blocks, a bad base64 body, DER that is not a certificate
    assert "not well-formed" in _refused(leaf.replace(b"-----END CERTIFICATE-----", b""))
    half = leaf.split(b"\n")
    assert "not well-formed" in _refused(b"\n".join(half[:3] + half))
    body = leaf.replace(leaf.split(b"\n")[2], b"!!!!" + leaf.split(b"\n")[2][4:])
    assert "not well-formed" in _refused(body)
    junk = base64.encodebytes(b"\x30\x03\x02\x01\x01")
    assert "not well-formed" in _refused(b"-----BEGIN CERTIFICATE-----\n" + junk
                                         + b"-----END CERTIFICATE-----\n")
    der = pki.leaf.public_bytes(serialization.Encoding.DER)
    trailing = base64.encodebytes(der + b"\x00\x00")
    assert "not well-formed" in _refused(b"-----BEGIN CERTIFICATE-----\n" + trailing
                                         + b"-----END CERTIFICATE-----\n")
    assert spki_pin(pki.leaf)  # the fixture itself is sound


def test_marker_soup_is_refused() -> None:
    """Unpaired markers: one linear scan of the markers refuses them (no regex spanning
    from a BEGIN to a far END, which would backtrack over the whole upload)."""
    assert "not well-formed" in _refused(
        b"-----BEGIN CERTIFICATE-----" * (MAX_BUNDLE_BYTES // 28))
    assert "not well-formed" in _refused(b"-----END CERTIFICATE-----\n" * 3)
