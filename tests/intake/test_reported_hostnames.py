"""hostnames.reported: a report's hostname, ASCII kept strict, U-labels to their A-label
(SPEC §3), homographs refused in either form."""

from __future__ import annotations

import json
from typing import Any

import pytest

from collector.intake import formats
from collector.intake.hostnames import HostnameError, mixes_scripts, normalise, reported
from collector.intake.rejection import Rejection
from tests.helpers import example_doc


@pytest.mark.parametrize(("raw", "expected"), [
    ("b\u00fccher.example", "xn--bcher-kva.example"),
    ("B\u00dcCHER.Example.", "xn--bcher-kva.example"),
    ("bu\u0308cher.example", "xn--bcher-kva.example"),  # NFD: the same name
    ("api.b\u00fccher.example", "api.xn--bcher-kva.example"),
    ("xn--bcher-kva.example", "xn--bcher-kva.example"),
    ("\u043f\u0440\u0438\u043c\u0435\u0440.\u0440\u0444", "xn--e1afmkfd.xn--p1ai"),
    ("\u0391\u03a3.gr", "xn--mxa0b.gr"),  # upper-case Greek, final sigma not special
    ("fa\u00df.de", "xn--fa-hia.de"),  # IDNA 2008 keeps the sharp s
    ("\u4f8b\u3048.\u30c6\u30b9\u30c8", "xn--r8jz45g.xn--zckzah"),  # Han + Hiragana
    ("sony\u9280\u884c.jp", "xn--sony-o55lq91c.jp"),  # Latin + Han
    ("API.Example.COM.", "api.example.com"), ("192.0.2.1", "192.0.2.1"),
])
def test_u_labels_become_a_labels(raw: str, expected: str) -> None:
    assert reported(raw) == expected


@pytest.mark.parametrize("raw", [
    # ASCII stays as strict as before: nothing is stripped
    " a.example", "a.example ", "a .example", "a..example", "example.com..", "a_b.example",
    "xn--zz.example",
    # non-canonical U-labels: IDNA's mapping would drop or fold more than case
    "api\u200b.example.com", "a\u00adb.example", "api.example.com\u3002", "\uff41pi.example.com",
    " b\u00fccher.example", "b\u00fccher.example ", "b\u00fccher..example", ".b\u00fccher.example",
    "b\u00fccher.example..",
    # not IDNA 2008 at all
    "api\u202e.example.com", "ZQXMARK-\u2028.example.com", "\u2603.example", "b\u00fccher_.example",
    # homographs: a label mixing scripts, as a U-label or as its A-label
    "\u0430pi.example.com", "API.EXAMPLE.\u0441om", "xn--pi-6kc.example.com",
    "p\u0430ypal.example", "\u03bfpenai.example",
    # too long once encoded
    "\u00fc" * 60 + ".example",
])
def test_refused(raw: str) -> None:
    with pytest.raises(HostnameError):
        reported(raw)


def test_analyst_lookups_stay_lenient() -> None:
    """normalise (analysts' lookups) still strips and maps; reports do not."""
    assert normalise(" B\u00fccher.example. ") == "xn--bcher-kva.example"
    assert normalise("\uff42\u00fccher.example") == "xn--bcher-kva.example"
    with pytest.raises(HostnameError):
        reported("\uff42\u00fccher.example")


@pytest.mark.parametrize(("label", "mixed"), [
    ("bucher", False), ("b\u00fccher", False), ("\u0430\u0440\u0435", False),
    ("\u0430pple", True), ("a\u03b1", True), ("\u30bd\u30cb\u30fc\u9280\u884c", False),
    ("\ud55c\uad6d\uc5b4abc", False), ("\ud55c\u3042", True), ("abc-123", False), ("", False),
])
def test_mixed_scripts(label: str, mixed: bool) -> None:
    assert mixes_scripts(label) is mixed


def _ios(**changes: Any) -> dict[str, Any]:
    doc = example_doc("trustkit-ios.json")
    doc.update({k.replace("_", "-"): v for k, v in changes.items()})
    return doc


def test_a_trustkit_report_about_a_u_label_is_built_under_its_a_label() -> None:
    doc = _ios(hostname="api.b\u00fccher.example", noted_hostname="B\u00fccher.example")
    report = formats.build(json.loads(json.dumps(doc)), received_ms=0, secret=b"k",
                           client_addr=None)
    assert report.hostname == "api.xn--bcher-kva.example"
    assert report.noted_hostname == "xn--bcher-kva.example"


def test_u_label_hostname_must_still_be_under_the_noted_one() -> None:
    with pytest.raises(Rejection) as info:
        formats.build(_ios(hostname="b\u00fccher.example", noted_hostname="example.com"),
                      received_ms=0, secret=b"k", client_addr=None)
    assert info.value.status == 422


@pytest.mark.parametrize("field", ["hostname", "noted-hostname"])
def test_a_refused_u_label_names_its_field(field: str) -> None:
    with pytest.raises(Rejection) as info:
        formats.build(_ios(**{field.replace("-", "_"): "\u0430pi.example.com"}),
                      received_ms=0, secret=b"k", client_addr=None)
    assert info.value.status == 422
    assert field in (info.value.errors or {})
