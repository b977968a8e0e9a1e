"""hostnames: the one normalised form (lower-case A-label, no trailing dot)."""

from __future__ import annotations

import pytest

from collector.intake.hostnames import HostnameError, is_within, normalise


@pytest.mark.parametrize(("raw", "expected"), [
    ("API.Example.COM.", "api.example.com"), ("xn--bcher-kva.de", "xn--bcher-kva.de"),
    ("XN--BCHER-KVA.DE", "xn--bcher-kva.de"), ("192.0.2.1", "192.0.2.1"),
    ("2001:DB8::0001", "2001:db8::1"), ("a" * 63 + ".com", "a" * 63 + ".com"),
])
def test_report_hostnames(raw: str, expected: str) -> None:
    assert normalise(raw, allow_unicode=False) == expected


@pytest.mark.parametrize("raw", [
    "", ".", "a..com", "-a.com", "a-.com", "a_b.com", "a b.com", "*.a.com", "a.com:80",
    "{x}.com", "a" * 64 + ".com", ("a" * 63 + ".") * 4 + "com", "xn--zz.com", "xn--.com",
    "fe80::1%eth0", " a.com", "a.com\n", "b\u00fccher.de", "\u0430pple.com", "a\u200b.com",
])
def test_rejected_report_hostnames(raw: str) -> None:
    with pytest.raises(HostnameError):
        normalise(raw, allow_unicode=False)


def test_analysts_may_type_u_labels() -> None:
    assert normalise(" B\u00fccher.de. ") == "xn--bcher-kva.de"
    with pytest.raises(HostnameError):
        normalise("\u2603\u200d.com")


@pytest.mark.parametrize(("host", "parent", "inside"), [
    ("example.com", "example.com", True), ("a.b.example.com", "example.com", True),
    ("notexample.com", "example.com", False), ("example.com", "a.example.com", False),
    ("example.com.evil", "example.com", False),
])
def test_is_within_is_label_aware(host: str, parent: str, inside: bool) -> None:
    assert is_within(host, parent) is inside
