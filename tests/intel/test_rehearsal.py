"""Rotation rehearsal logic, pure: which keys a candidate chain offers, what a pin set makes of
them, and the pins to ship. No Redis, no clock."""

from __future__ import annotations

import datetime

from collector.intake.chains import spki_pin
from collector.intel.classify import PUBLIC_TRUST, Classifier
from collector.intel.rehearsal import (
    FAIL,
    NOT_ENFORCED,
    PASS,
    UNPINNED,
    build_verdict,
    candidate_keys,
    judge,
    next_release,
    pin_set_forms,
    pins_to_add,
)
from tests.intel.pki import HOST, NOW, PKI

TODAY = datetime.date(2026, 12, 1)


def test_keys_leaf_first_with_positions_and_the_store_root(pki: PKI,
                                                            classifier: Classifier) -> None:
    keys = candidate_keys([pki.leaf, pki.intermediate])
    assert [(k.position, k.pin, k.uploaded) for k in keys] == [
        ("leaf", spki_pin(pki.leaf), True), ("intermediate", spki_pin(pki.intermediate), True)]
    verdict = classifier.classify([pki.leaf, pki.intermediate], HOST, NOW)
    assert verdict.kind == PUBLIC_TRUST
    keys = candidate_keys([pki.leaf, pki.intermediate], verdict.verified_pins)
    assert [(k.position, k.uploaded) for k in keys] == [
        ("leaf", True), ("intermediate", True), ("root", False)]
    assert keys[2].pin == spki_pin(pki.root)
    with_root = candidate_keys([pki.leaf, pki.intermediate, pki.root, pki.root])
    assert [k.position for k in with_root] == ["leaf", "intermediate", "root"]


def test_verdicts_of_one_pin_set(pki: PKI) -> None:
    keys = candidate_keys([pki.leaf, pki.intermediate])
    leaf, ca = spki_pin(pki.leaf), spki_pin(pki.intermediate)
    other = spki_pin(pki.root)
    found = judge([f'pin-sha256="{ca}"', other], "2027-06-01", keys, TODAY)
    assert (found.verdict, found.accepts, found.matching_pins, found.days_to_expiry) == (
        PASS, True, [ca], 182)
    assert [k.position for k in found.matching] == ["intermediate"]
    found = judge([other], "2027-06-01", keys, TODAY)
    assert (found.verdict, found.accepts, found.matching_pins) == (FAIL, False, [])
    found = judge([other], "2026-11-30", keys, TODAY)  # expired yesterday: not enforced
    assert (found.verdict, found.accepts, found.days_to_expiry) == (NOT_ENFORCED, True, -1)
    assert judge([other], "2026-12-01", keys, TODAY).verdict == FAIL  # expires today: still on
    assert judge([], None, keys, TODAY).verdict == UNPINNED
    assert judge(["not a pin"], None, keys, TODAY).verdict == UNPINNED
    assert judge([leaf], "2027-01-26T20:10:15.456Z", keys, TODAY).days_to_expiry == 56
    assert judge([leaf], None, keys, TODAY).verdict == PASS


def test_a_build_fails_when_any_of_its_pin_sets_fails() -> None:
    assert build_verdict([PASS, FAIL]) == FAIL
    assert build_verdict([PASS, NOT_ENFORCED]) == PASS
    assert build_verdict([NOT_ENFORCED, UNPINNED]) == NOT_ENFORCED
    assert build_verdict([UNPINNED]) == UNPINNED


def test_pins_to_add_and_the_next_release(pki: PKI) -> None:
    keys = candidate_keys([pki.leaf, pki.intermediate, pki.root])
    shipped = {spki_pin(pki.root): 3}
    pins = pins_to_add(keys, shipped)
    assert [(p["position"], p["recommended"], p["shipped_by_versions"], p["in_chain"])
            for p in pins] == [("leaf", True, 0, True), ("intermediate", True, 0, True),
                               ("root", False, 3, True)]
    assert pins[0]["trustkit"] == spki_pin(pki.leaf)
    assert pins[1]["android_nsc"] == f'<pin digest="SHA-256">{spki_pin(pki.intermediate)}</pin>'
    assert "issued" in str(pins[1]["why"])
    old = ["r/mIkG3eEpVdm+u/ko/cwxzOMo1bk4TyHIlByibiA5E="]
    nxt = next_release(keys, old, datetime.date(2027, 1, 26))
    assert nxt["pins"] == [spki_pin(pki.leaf), spki_pin(pki.intermediate), *old]
    assert nxt["trustkit"] == {"kTSKPublicKeyHashes": nxt["pins"],
                               "kTSKExpirationDate": "2027-01-26"}
    assert str(nxt["android_nsc"]).startswith('<pin-set expiration="2027-01-26">\n    <pin ')


def test_pin_set_forms_take_either_date_form() -> None:
    pin = "r/mIkG3eEpVdm+u/ko/cwxzOMo1bk4TyHIlByibiA5E="
    forms = pin_set_forms([f'pin-sha256="{pin}"'], "2027-01-26T20:10:15.456Z")
    assert forms["trustkit"] == {"kTSKPublicKeyHashes": [pin], "kTSKExpirationDate": "2027-01-26"}
    assert forms["android_nsc"] == (f'<pin-set expiration="2027-01-26">\n'
                                    f'    <pin digest="SHA-256">{pin}</pin>\n</pin-set>')
    assert pin_set_forms([pin], None)["android_nsc"].startswith("<pin-set>\n")
