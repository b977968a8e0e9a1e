"""Pin-set advice for the host view (SPEC §6)."""

from __future__ import annotations

import datetime

import pytest

from collector.intel.advice import (
    normalize_pin,
    parse_expiration,
    pin_set_advice,
    pins_that_would_pass,
)

TODAY = datetime.date(2026, 11, 27)
A = "r/mIkG3eEpVdm+u/ko/cwxzOMo1bk4TyHIlByibiA5E="
B = "YLh1dUR9y6Kja30RrAn7JKnbQG/uEtLMkBgFF2Fuihg="
LEAF = "FkcecKS4/1ezi5+WULXkgClhPhZo/2FBIMxCLuirxuY="
INTER = "GOWj8Bj2g13KpNcl+TelAozf8VPSUV6b9FWJx728SXI="
ROOT = "3Eg0a+0XEJaNrncSZ01AbLDOBR1VlgP/J64JzoaML8U="


def test_known_pins_directives_and_bare_digests() -> None:
    assert normalize_pin(f'pin-sha256="{A}"') == A
    assert normalize_pin(f' PIN-SHA256 = "{A}" ') == A
    assert normalize_pin(A) == A


def test_report_pin_set() -> None:
    got = pin_set_advice([f'pin-sha256="{A}"', f'pin-sha256="{B}"'], "2027-06-01", {LEAF}, TODAY)
    assert got == {
        "has_backup_pin": True,
        "matches_public_trust_key": False,
        "matching_pins": [],
        "expires": "2027-06-01",
        "days_to_expiry": 186,
    }


def test_single_pin_repeated_has_no_backup() -> None:
    got = pin_set_advice([A, f'pin-sha256="{A}"'], None, set(), TODAY)
    assert got["has_backup_pin"] is False
    assert got["expires"] is None and got["days_to_expiry"] is None


def test_matches_public_trust_key() -> None:
    got = pin_set_advice([A, ROOT, INTER], "", {ROOT, INTER, LEAF}, TODAY)
    assert got["matches_public_trust_key"] is True
    assert got["matching_pins"] == [ROOT, INTER]
    assert got["expires"] is None


@pytest.mark.parametrize(
    ("expiration", "days"),
    [
        ("2027-01-26T20:10:15.456Z", 60),  # HPKP effective-expiration-date
        ("2026-11-27", 0),
        ("2026-11-20", -7),  # expired: negative
        ("2026-11-28T01:00:00+05:00", 0),  # RFC 3339 offset → UTC date
        ("2026-12-01T00:00:00", 4),
        ("2026-12-01 junk", 4),  # best effort on the date prefix
        ("tomorrow", None),
        ("2026-13-45", None),
        ("", None),
    ],
)
def test_days_to_expiry(expiration: str, days: int | None) -> None:
    assert pin_set_advice([A], expiration, set(), TODAY)["days_to_expiry"] == days


def test_parse_expiration_none() -> None:
    assert parse_expiration(None) is None


def test_pins_that_would_pass_verified_path() -> None:
    got = pins_that_would_pass([LEAF, INTER, ROOT])
    assert [g["position"] for g in got] == ["leaf", "intermediate", "root"]
    assert got[0] == {
        "position": "leaf",
        "pin": LEAF,
        "trustkit": LEAF,
        "android_nsc": f'<pin digest="SHA-256">{LEAF}</pin>',
    }


def test_pins_that_would_pass_served_chain_without_root() -> None:
    got = pins_that_would_pass([LEAF, INTER], ends_at_root=False)
    assert [g["position"] for g in got] == ["leaf", "intermediate"]
    assert [g["position"] for g in pins_that_would_pass([LEAF])] == ["leaf"]
    assert pins_that_would_pass([]) == []
