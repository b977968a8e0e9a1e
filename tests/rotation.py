"""A rotation scenario shared by the inventory and rehearsal tests: two CAs, the chain served
today, and app builds in the field pinning different keys (with and without a backup).

Plain functions and constants (no fixtures): the tests of each package build it as they need.

* CA "A": root A -> intermediate A -> leaf A1 (served today) and leaf A2 (a new key, same CA);
* CA "B": root B -> intermediate B -> leaf B (a new key from another CA);
* builds (iOS unless said), their pins and devices:

  ============  ==========================  ===================================  =======
  build         pins                        meaning                              devices
  ============  ==========================  ===================================  =======
  1.0           leaf A1, an offline backup  leaf only: any new key fails         5
  2.0           intermediate A, root A      CA A only: another CA fails          8
  3.0           leaf A1, int. A, int. B     a backup pin for CA B: all pass      12
  3.0 ANDROID   intermediate A              no backup: another CA fails          4
  ============  ==========================  ===================================  =======
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import hashlib
import time
from collections.abc import Sequence
from typing import Any

from cryptography import x509

from collector.aggregates.writer import ReportStore, Stamped
from collector.intake import formats
from collector.intake.chains import spki_pin
from collector.intake.report import Report
from tests.helpers import example_doc
from tests.intel.pki import DAY, NOW, cn, make_cert, name, new_key, pem

HOST = "api.example.com"
OFFLINE_BACKUP = base64.b64encode(hashlib.sha256(b"a key kept offline").digest()).decode()


class Rotation:
    """The certificates of the scenario (minted once per test session is enough)."""

    def __init__(self) -> None:
        from cryptography.x509.oid import NameOID

        def ca(label: str) -> tuple[Any, x509.Certificate, Any, x509.Certificate]:
            root_key, int_key = new_key(), new_key()
            root_name = name([(NameOID.COMMON_NAME, f"Rotation Root {label}"),
                              (NameOID.ORGANIZATION_NAME, f"Rotation CA {label}")])
            root = make_cert(root_name, root_key, ca=True, not_before=NOW - 3000 * DAY,
                             not_after=NOW + 3000 * DAY)
            inter = make_cert(cn(f"Rotation Issuing CA {label}"), int_key, issuer=root_name,
                              signer=root_key, ca=True, not_before=NOW - 2000 * DAY,
                              not_after=NOW + 2000 * DAY)
            return root_key, root, int_key, inter

        self.keys: dict[str, Any] = {}

        def leaf(label: str, int_key: Any, inter: x509.Certificate) -> x509.Certificate:
            self.keys[label] = new_key()
            return make_cert(cn(HOST), self.keys[label], issuer=inter.subject, signer=int_key,
                             ca=False, hosts=(HOST,), not_after=NOW + 90 * DAY)

        _, self.root_a, int_a_key, self.int_a = ca("A")
        _, self.root_b, int_b_key, self.int_b = ca("B")
        self.leaf_a1 = leaf("a1", int_a_key, self.int_a)
        self.leaf_a2 = leaf("a2", int_a_key, self.int_a)
        self.leaf_b = leaf("b", int_b_key, self.int_b)

    @property
    def current(self) -> bytes:
        """The chain served today (leaf A1, intermediate A), as a PEM file."""
        return pem(self.leaf_a1, self.int_a)

    @property
    def same_ca(self) -> bytes:
        return pem(self.leaf_a2, self.int_a)

    @property
    def other_ca(self) -> bytes:
        return pem(self.leaf_b, self.int_b)

    def builds(self) -> list[tuple[str, str, list[str], int]]:
        """(version, platform, pins, devices) of each build in the field."""
        p = spki_pin
        return [
            ("1.0", "IOS", [p(self.leaf_a1), OFFLINE_BACKUP], 5),
            ("2.0", "IOS", [p(self.int_a), p(self.root_a)], 8),
            ("3.0", "IOS", [p(self.leaf_a1), p(self.int_a), p(self.int_b)], 12),
            ("3.0", "ANDROID", [p(self.int_a)], 4),
        ]


def trustkit_doc(version: str, platform: str, pins: Sequence[str], device: str,
                 expiration: str | None = "2027-06-01", host: str = HOST) -> dict[str, Any]:
    """A TrustKit report of one build (the golden iOS or Android body, its pins replaced)."""
    doc = copy.deepcopy(example_doc("trustkit-android.json" if platform == "ANDROID"
                                    else "trustkit-ios.json"))
    doc.update({"hostname": host, "app-version": version, "app-vendor-id": device,
                "known-pins": [f'pin-sha256="{pin}"' for pin in pins]})
    if expiration is None:
        doc.pop("known-pins-expiration-date", None)
    else:
        doc["known-pins-expiration-date"] = expiration
    return doc


def field_reports(rot: Rotation, *, devices_scale: int = 1, received_ms: int | None = None,
                  expiration: str | None = "2027-06-01") -> list[Report]:
    """One report per device of every build of the scenario (two from every third device)."""
    at = received_ms if received_ms is not None else int(time.time() * 1000)
    out = []
    for version, platform, pins, devices in rot.builds():
        for i in range(devices * devices_scale):
            doc = trustkit_doc(version, platform, pins, f"{platform}-{version}-device-{i}",
                               expiration)
            report = formats.build(doc, received_ms=at, secret=b"s", client_addr=None)
            out += [report] * (2 if i % 3 == 0 else 1)
    return out


def write(store: ReportStore, reports: Sequence[Report], start: int = 1,
          writer: str = "rotation") -> None:
    store.write([Stamped(r, writer, start + i) for i, r in enumerate(reports)])


def at(reports: Sequence[Report], received_ms: int) -> list[Report]:
    return [dataclasses.replace(r, received_ms=received_ms) for r in reports]
