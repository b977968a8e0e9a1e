"""Chain classification (SPEC §6) over chains minted here, plus the shared golden examples."""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest
from cryptography import x509

from collector.intake.chains import parse_chain, spki_pin
from collector.intel.classify import PUBLIC_TRUST, UNKNOWN, Classification, Classifier
from collector.intel.roots import load_roots
from tests.helpers import EXAMPLES
from tests.intel.pki import DAY, HOST, NOW, PKI, cn, make_cert, new_key


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


def test_roots_loader_skips_garbage(pki: PKI) -> None:
    bogus = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    assert load_roots(bogus + pki.roots_pem + b"junk") == [pki.root]
