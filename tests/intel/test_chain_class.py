"""The chain's own (issuer-level) class, and the classifier version that dates every class."""

from __future__ import annotations

import datetime
import json
from typing import Any

from cryptography.x509.oid import NameOID

from collector.intake.chains import parse_chain
from collector.intel.classify import (
    INTERCEPTION_TOOL,
    PUBLIC_TRUST,
    UNKNOWN,
    Classification,
    Classifier,
)
from tests.helpers import EXAMPLES
from tests.intel.pki import DAY, HOST, NOW, PKI, cn, make_cert, name, new_key


def test_a_public_chain_is_public_trust_whatever_host_it_is_seen_for(
        pki: PKI, classifier: Classifier) -> None:
    chain = [pki.leaf, pki.intermediate]
    own = classifier.classify_chain(chain, NOW)
    assert own.kind == PUBLIC_TRUST and own.label == "Test Public Root R1"
    assert own == classifier.classify(chain, HOST, NOW)
    pair = classifier.classify(chain, "other.example.org", NOW)
    assert pair.kind == UNKNOWN
    assert pair.label == "Test Public Root R1: leaf does not cover this host"


def test_wildcard_and_ip_leaves_verify_without_a_hostname() -> None:
    for hosts in (["*.example.com"], ["10.1.2.3"]):
        pki = PKI(hosts=hosts)
        got = Classifier(pki.roots_pem).classify_chain([pki.leaf, pki.intermediate], NOW)
        assert got.kind == PUBLIC_TRUST, hosts


def test_chain_class_checks_validity_and_the_roots(pki: PKI, classifier: Classifier) -> None:
    chain = [pki.leaf, pki.intermediate]
    assert classifier.classify_chain(chain, NOW + 400 * DAY).kind == UNKNOWN  # expired
    assert Classifier(PKI().roots_pem).classify_chain(chain, NOW) == Classification(UNKNOWN,
                                                                                    None)
    assert Classifier(b"").classify_chain(chain, NOW).kind == UNKNOWN


def test_chain_class_recognises_products_by_issuer() -> None:
    key = new_key()
    ca = name([(NameOID.ORGANIZATION_NAME, "PortSwigger"),
               (NameOID.COMMON_NAME, "PortSwigger CA")])
    leaf = make_cert(cn(HOST), new_key(), issuer=ca, signer=key, ca=False, hosts=[HOST])
    got = Classifier(b"").classify_chain([leaf], NOW)
    assert got.kind == INTERCEPTION_TOOL and got.label


def test_chain_class_never_raises(classifier: Classifier) -> None:
    junk: Any = [None, "not a cert"]
    assert classifier.classify_chain([], NOW).kind == UNKNOWN
    assert classifier.classify_chain(junk, NOW).kind == UNKNOWN
    no_san = make_cert(cn(HOST), new_key(), ca=False)
    assert classifier.classify_chain([no_san], NOW).kind == UNKNOWN


def test_golden_chromium_chain_is_public_trust_on_any_host() -> None:
    report = json.loads((EXAMPLES / "chromium-hpkp.json").read_text())
    certs = parse_chain(tuple(report["served-certificate-chain"])).certificates
    at = datetime.datetime.fromisoformat(report["date-time"])
    classifier = Classifier.from_files(str(EXAMPLES / "public-root.pem"))
    assert classifier.classify_chain(certs, at).kind == PUBLIC_TRUST
    assert classifier.classify(certs, "b.example.com", at).kind == UNKNOWN


def test_changing_the_roots_or_products_changes_the_version(pki: PKI) -> None:
    base = Classifier(pki.roots_pem)
    assert base.version == Classifier(pki.roots_pem).version  # same data, same version
    assert len(base.version) == 12 and int(base.version, 16) >= 0
    assert Classifier(PKI().roots_pem).version != base.version
    assert Classifier(pki.roots_pem + PKI().roots_pem).version != base.version
    extra = [{"name": "x", "kind": INTERCEPTION_TOOL, "label": "X", "patterns": ["^X CA$"]}]
    assert Classifier(pki.roots_pem, extra).version != base.version
    relabelled = [{**extra[0], "label": "Y"}]
    assert Classifier(pki.roots_pem, relabelled).version \
        != Classifier(pki.roots_pem, extra).version


def test_version_of_files(tmp_path: Any) -> None:
    roots = str(EXAMPLES / "public-root.pem")
    products = tmp_path / "products.json"
    products.write_text(json.dumps([{"name": "x", "kind": INTERCEPTION_TOOL, "label": "X",
                                     "patterns": ["^X$"]}]))
    assert Classifier.from_files(roots).version == Classifier.from_files(roots).version
    assert Classifier.from_files(roots).version != Classifier.from_files(None).version
    assert Classifier.from_files(roots, str(products)).version \
        != Classifier.from_files(roots).version
