"""The recommended pin set of a host (SPEC §6): a primary, at least one backup, each with why."""

from __future__ import annotations

import datetime

from cryptography import x509
from cryptography.x509.oid import NameOID

from collector.intake.chains import parse_chain, spki_pin
from collector.intel.classify import Classification, Classifier
from collector.intel.recommend import ChainSeen, KeySeen, chain_seen, recommended_pins
from tests.helpers import CHROME_FP, CHROME_PINS, EXAMPLES, example_doc
from tests.intel.pki import HOST, NOW, PKI, name

SHIPPED = "r/mIkG3eEpVdm+u/ko/cwxzOMo1bk4TyHIlByibiA5E="
OTHER = "YLh1dUR9y6Kja30RrAn7JKnbQG/uEtLMkBgFF2Fuihg="


def _chromium() -> tuple[list[x509.Certificate], Classification]:
    doc = example_doc("chromium-hpkp.json")
    certs = parse_chain(tuple(doc["validated-certificate-chain"])).certificates
    classifier = Classifier((EXAMPLES / "public-root.pem").read_bytes())
    found = classifier.classify(certs, "api.example.com",
                                datetime.datetime(2026, 11, 27, tzinfo=datetime.UTC))
    return certs, found


def test_public_chain_gives_leaf_primary_and_its_cas_as_backups() -> None:
    certs, found = _chromium()
    assert found.kind == "public-trust"
    seen = chain_seen(CHROME_FP, 7, certs, found)
    got = recommended_pins([seen], [([f'pin-sha256="{SHIPPED}"', f'pin-sha256="{OTHER}"'], 7)])
    assert [(p["pin"], p["role"]) for p in got["pins"]] == list(
        zip(CHROME_PINS, ("primary", "backup", "backup"), strict=True))
    assert got["pins"][0]["subject"] == "CN=api.example.com"
    assert "Root R1" in got["pins"][2]["subject"] and "root" in got["pins"][2]["why"]
    assert "public-trust" in got["pins"][0]["why"] and "7 reports" in got["pins"][0]["why"]
    assert "issuing CA" in got["pins"][1]["why"]
    assert got["why"] is None
    assert got["expiration"] == "2027-01-26"
    assert got["trustkit"] == {"kTSKPublicKeyHashes": CHROME_PINS,
                               "kTSKExpirationDate": "2027-01-26"}
    assert got["android_nsc"].splitlines() == [
        '<pin-set expiration="2027-01-26">',
        *(f'    <pin digest="SHA-256">{p}</pin>' for p in CHROME_PINS), "</pin-set>"]


def test_served_chain_without_root_still_ends_at_the_stores_root(
        pki: PKI, classifier: Classifier) -> None:
    found = classifier.classify([pki.leaf, pki.intermediate], HOST, NOW)
    assert found.kind == "public-trust"
    seen = chain_seen("a" * 64, 3, [pki.leaf, pki.intermediate], found, known=[pki.root])
    got = recommended_pins([seen], [])
    assert [p["pin"] for p in got["pins"]] == [
        spki_pin(c) for c in (pki.leaf, pki.intermediate, pki.root)]
    assert got["pins"][2]["subject"] == pki.root.subject.rfc4514_string()
    unnamed = recommended_pins([chain_seen("a" * 64, 3, [pki.leaf, pki.intermediate], found)], [])
    assert unnamed["pins"][2]["subject"] is None and unnamed["pins"][2]["role"] == "backup"


def test_most_reported_public_chain_is_primary_and_other_cas_are_backups(
        classifier: Classifier) -> None:
    first = PKI()
    second = PKI(leaf_subject=name([(NameOID.COMMON_NAME, HOST)]))  # another CA hierarchy
    both = Classifier(first.roots_pem + second.roots_pem)
    a = both.classify([first.leaf, first.intermediate], HOST, NOW)
    b = both.classify([second.leaf, second.intermediate], HOST, NOW)
    assert a.kind == b.kind == "public-trust"
    chains = [chain_seen("a" * 64, 2, [first.leaf, first.intermediate], a),
              chain_seen("b" * 64, 9, [second.leaf, second.intermediate], b)]
    got = recommended_pins(chains, [])
    pins = [p["pin"] for p in got["pins"]]
    assert pins[0] == spki_pin(second.leaf) and got["pins"][0]["role"] == "primary"
    assert pins[1:3] == [spki_pin(second.intermediate), spki_pin(second.root)]
    assert spki_pin(first.leaf) in pins and spki_pin(first.root) in pins
    other = next(p for p in got["pins"] if p["pin"] == spki_pin(first.leaf))
    assert other["role"] == "backup" and "different CA" in other["why"]
    assert len(pins) == len(set(pins))


def test_same_ca_chains_add_no_duplicate_backups(pki: PKI) -> None:
    keys = (KeySeen("L1"), KeySeen("I"), KeySeen("R"))
    again = (KeySeen("L2"), KeySeen("I"), KeySeen("R"))
    got = recommended_pins([ChainSeen("a" * 64, 5, True, keys),
                            ChainSeen("b" * 64, 1, True, again)], [])
    assert [p["pin"] for p in got["pins"]] == ["L1", "I", "R"]


def test_without_public_chain_a_chain_holding_a_shipped_pin_is_primary() -> None:
    proxy = ChainSeen("c" * 64, 50, False, (KeySeen("P"), KeySeen("PR")))
    own = ChainSeen("d" * 64, 4, False, (KeySeen("OWN"), KeySeen(SHIPPED)))
    got = recommended_pins([proxy, own], [([f'pin-sha256="{SHIPPED}"'], 3)])
    assert [(p["pin"], p["role"]) for p in got["pins"]] == [("OWN", "primary"),
                                                           (SHIPPED, "backup")]
    assert "No public-trust chain" in got["pins"][0]["why"]
    assert "Already in the pin sets of 3 reports." in got["pins"][1]["why"]
    assert got["trustkit"]["kTSKExpirationDate"] is None
    assert got["android_nsc"].startswith("<pin-set>\n")


def test_a_lone_leaf_falls_back_to_shipped_pins_as_backup() -> None:
    lone = ChainSeen("e" * 64, 1, True, (KeySeen("LEAF"),))
    got = recommended_pins([lone], [([OTHER, f'pin-sha256="{SHIPPED}"'], 2), ([OTHER], 5)])
    assert [(p["pin"], p["role"]) for p in got["pins"]] == [
        ("LEAF", "primary"), (OTHER, "backup"), (SHIPPED, "backup")]
    assert "offline" in got["pins"][1]["why"] and got["why"] is None
    bare = recommended_pins([lone], [])
    assert [p["role"] for p in bare["pins"]] == ["primary"]
    assert "No backup key" in bare["why"]


def test_nothing_to_recommend_says_why() -> None:
    proxy = ChainSeen("c" * 64, 50, False, (KeySeen("P"),))
    for chains in ([], [proxy]):
        got = recommended_pins(chains, [([OTHER], 4)])
        assert got["pins"] == [] and got["trustkit"] is None and got["android_nsc"] is None
        assert "No public-trust chain" in got["why"]


def test_unknown_pair_of_a_public_chain_is_not_public() -> None:
    certs, _ = _chromium()
    seen = chain_seen(CHROME_FP, 1, certs, Classification("unknown", "not for this host"))
    assert not seen.public_trust
    assert [k.pin for k in seen.keys] == CHROME_PINS
    assert seen.leaf_not_after == datetime.date(2027, 1, 26)
