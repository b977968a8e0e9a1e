"""Rotation rehearsal of one host (SPEC section 12): the field pin inventory of the window
(``read.inventory``) judged against a candidate chain (``intel.rehearsal``).

The candidate is checked the way clients will see it: its keys as uploaded, plus the public
root of its verified path when it verifies to one of COLLECTOR_PUBLIC_ROOTS (clients complete
the chain from their trust store, and a pinned root key matches there). Whether it verifies
for this host is reported as a warning, never as a verdict: the verdicts are about pins.

Reports without an app id or version (RFC 7469 / Chromium, Expect-CT, other HPKP senders) are
one build with null app id, version and platform, judged like any other; Expect-CT carries no
pins, so it is ``unpinned`` and never fails.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from cryptography import x509

from collector.aggregates.read import sketch
from collector.aggregates.read.context import ReadContext
from collector.aggregates.read.inventory import by_build, pin_set_doc, read_inventory, span_of
from collector.aggregates.read.replies import iso
from collector.aggregates.read.windows import Window
from collector.intake.chains import load_der, spki_pin
from collector.intel.classify import PUBLIC_TRUST, Classification
from collector.intel.rehearsal import (
    FAIL,
    NOT_ENFORCED,
    PASS,
    UNPINNED,
    build_verdict,
    candidate_keys,
    judge,
    next_release,
    pins_to_add,
    position_of,
    unique_pins,
)


def _classes(ctx: ReadContext, certs: list[x509.Certificate], hostname: str, at: datetime) \
        -> tuple[Classification | None, Classification | None]:
    """The candidate's class for this host, and its own (by issuer) for the root's pin."""
    if ctx.classifier is None:
        return None, None
    pair = ctx.classifier.classify(certs, hostname, at)
    own = pair if pair.kind == PUBLIC_TRUST else ctx.classifier.classify_chain(certs, at)
    return pair, own


def _warnings(certs: list[x509.Certificate], pair: Classification | None, hostname: str,
              at: datetime) -> list[str]:
    out = []
    leaf = certs[0]
    if leaf.not_valid_after_utc < at:
        out.append("The leaf certificate has expired.")
    elif leaf.not_valid_before_utc > at:
        out.append("The leaf certificate is not valid yet.")
    if pair is not None and pair.kind != PUBLIC_TRUST:
        why = f" ({pair.label})" if pair.label else ""
        out.append(f"The chain does not verify to a public root for {hostname}{why}: clients "
                   "check the system trust store before any pin, so those without a private "
                   "trust anchor for it refuse it whatever their pins.")
    return out


def _certificate(cert: x509.Certificate, position: str) -> dict[str, Any]:
    return {"position": position, "subject": cert.subject.rfc4514_string(),
            "issuer": cert.issuer.rfc4514_string(),
            "not_after": iso(int(cert.not_valid_after_utc.timestamp() * 1000)),
            "spki_sha256": spki_pin(cert)}


def rehearsal_doc(ctx: ReadContext, hostname: str, window: Window, ders: Sequence[bytes],
                  now: datetime | None = None) -> dict[str, Any] | None:
    """``POST /v1/hosts/<hostname>/rehearsal``: for each build seen in the window, whether it
    would accept the candidate chain (``ders``, leaf first), on how many devices, and the pins
    to add; None for a host never seen."""
    now = now or datetime.now(UTC)
    inv = read_inventory(ctx, hostname, window, now)
    if inv is None:
        return None
    today = now.date()
    certs = [load_der(d) for d in ders]
    pair, own = _classes(ctx, certs, hostname, now)
    keys = candidate_keys(certs, own.verified_pins if own and own.kind == PUBLIC_TRUST else ())
    position = {k.pin: k.position for k in keys}
    versions: list[dict[str, Any]] = []
    failing_sketches: list[bytes] = []
    shipped: dict[str, int] = {}
    for (app_id, version, platform), group in by_build(inv.entries).items():
        sets = []
        failing = []
        for e in group:
            verdict = judge(e.pins, e.expiration, keys, today)
            doc = pin_set_doc(e, today)
            sets.append({**{k: doc[k] for k in ("pins", "expiration", "days_to_expiry",
                                                "expired", "reports", "devices",
                                                "first_seen", "last_seen")},
                         "verdict": verdict.verdict, "accepts": verdict.accepts,
                         "matching_pins": verdict.matching_pins})
            if not verdict.accepts:
                failing.append(e.sketch)
        failing_sketches += failing
        for pin in {p for e in group for p in unique_pins(e.pins)}:
            shipped[pin] = shipped.get(pin, 0) + 1
        verdict_name = build_verdict(s["verdict"] for s in sets)
        matching = list(dict.fromkeys(p for s in sets for p in s["matching_pins"]))
        first, last = span_of(group)
        main = max(sets, key=lambda s: (s["devices"], s["reports"]))
        versions.append({
            "app_id": app_id, "app_version": version, "platform": platform,
            "verdict": verdict_name, "accepts": verdict_name != FAIL,
            "devices": sketch.count(e.sketch for e in group),
            "devices_that_would_fail": sketch.count(failing) if failing else 0,
            "reports": sum(e.reports for e in group),
            "first_seen": iso(first), "last_seen": iso(last),
            "matching_pins": matching,
            "matching_keys": [{"pin": p, "position": position[p]} for p in matching],
            "expiration": main["expiration"],
            "pin_sets": sets,
        })
    order = {FAIL: 0, NOT_ENFORCED: 1, PASS: 2, UNPINNED: 3}
    versions.sort(key=lambda v: (order[v["verdict"]], -v["devices"], -v["reports"],
                                 str(v["app_id"]), str(v["app_version"]), str(v["platform"])))
    counts = {name: sum(1 for v in versions if v["verdict"] == name)
              for name in (PASS, FAIL, NOT_ENFORCED, UNPINNED)}
    would_fail = sketch.count(failing_sketches) if failing_sketches else 0
    deployed = max((e for e in inv.entries if unique_pins(e.pins)),
                   key=lambda e: (sketch.estimate(e.sketch), e.reports), default=None)
    return {
        "hostname": inv.hostname,
        "would_fail": counts[FAIL] > 0,
        "devices_that_would_fail": would_fail,
        "summary": {
            "versions": len(versions), "passing": counts[PASS], "failing": counts[FAIL],
            "not_enforced": counts[NOT_ENFORCED], "unpinned": counts[UNPINNED],
            "devices": sketch.count(e.sketch for e in inv.entries),
            "devices_that_would_fail": would_fail,
            "reports_of_other_builds": inv.other_reports,
        },
        "versions": versions,
        "chain": {
            "certificates": [_certificate(c, position_of(i, c)) for i, c in enumerate(certs)],
            "classification": pair.kind if pair else None,
            "label": pair.label if pair else None,
            "warnings": _warnings(certs, pair, hostname, now),
        },
        "pins_to_add": pins_to_add(keys, shipped),
        "next_release": next_release(keys, deployed.pins if deployed else (),
                                     certs[0].not_valid_after_utc.date()),
    }
