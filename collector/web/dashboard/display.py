"""How the views' values read on a page: classes (API name, colour and what it means), triage
states, alert rules, pin-set advice, short fingerprints. Template filters and globals.

Every text here is fixed by the collector; report-derived strings only ever pass through
Jinja's autoescape.
"""

from __future__ import annotations

from typing import Any

from collector.aggregates.read.params import CLASSES
from collector.intel.classify import INTERCEPTION_TOOL, PUBLIC_TRUST, TLS_INSPECTION, UNKNOWN
from collector.intel.rehearsal import FAIL, NOT_ENFORCED, PASS, UNPINNED
from collector.web.dashboard import timefmt

CLASS_ORDER = (PUBLIC_TRUST, INTERCEPTION_TOOL, TLS_INSPECTION, UNKNOWN)
"""The API's class names, most urgent first (the order pages list them in)."""
CLASS_MEANING = {
    PUBLIC_TRUST: "Chains to a public root and covers the host: almost certainly your own "
                  "new key, missing from the app's pins. Enforcing clients fail on it.",
    INTERCEPTION_TOOL: "Issued by a debugging proxy (Burp, Charles, mitmproxy, …): a tester "
                       "or an attacker.",
    TLS_INSPECTION: "A corporate or antivirus TLS inspection product.",
    UNKNOWN: "Self-signed, private root, expired, broken, or a public chain that does not "
             "cover this host.",
}
STATE_MEANING = {
    "open": "not triaged yet",
    "acknowledged": "seen by an analyst",
    "ignored": "silenced: fires no alerts, still counted",
}
RULE_TEXT = {
    "new-public-trust-chain": "New public-trust chain",
    "enforced-failures": "Users losing service",
    "new-chain": "New chain",
    "spike": "Spike",
    "pins-expiring": "Pins expiring",
}
URGENT_RULES = frozenset({"new-public-trust-chain", "enforced-failures"})
VERDICTS = {
    FAIL: ("bad", "would fail"),
    PASS: ("ok", "a pin matches a key of this chain"),
    NOT_ENFORCED: ("warn", "its pins expired: not enforced, it accepts any chain"),
    UNPINNED: ("none", "its reports carry no pins"),
}
"""A rotation rehearsal's verdicts (``intel.rehearsal``): (CSS level, what it means)."""


def class_css(cls: Any) -> str:
    """The badge's CSS class; anything unexpected looks like ``unknown``."""
    return f"cls-{cls}" if cls in CLASSES else "cls-unknown"


def state_css(state: Any) -> str:
    return f"state-{state}" if state in STATE_MEANING else "state-open"


def short_fp(fp: Any) -> str:
    """The first 16 hex digits: enough to tell chains apart on a page."""
    return f"{fp[:16]}…" if isinstance(fp, str) and len(fp) > 16 else str(fp or "—")


def number(value: Any) -> str:
    """Thousands separated; None (a figure the window cannot give) is a dash."""
    if value is None:
        return "—"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def pin_set_advice(ps: dict[str, Any]) -> list[tuple[str, str]]:
    """(level, text) lines for one pin set as clients reported it: ``bad``, ``warn``, ``ok``."""
    if ps.get("other"):
        return [("warn", "Many more pin sets (over the per-host cap): no advice.")]
    out: list[tuple[str, str]] = []
    if not ps.get("pins"):
        out.append(("bad", "No pins reported."))
    elif ps.get("has_backup_pin") is False:
        out.append(("bad", "No backup pin: one key change breaks every client."))
    else:
        out.append(("ok", "Has a backup pin."))
    if ps.get("matches_public_trust_key"):
        out.append(("ok", "Pins a key seen in a public-trust chain of this host."))
    elif ps.get("matches_public_trust_key") is False:
        out.append(("warn", "Pins no key seen in a public-trust chain of this host."))
    days = ps.get("days_to_expiry")
    if isinstance(days, int):
        if days < 0:
            out.append(("bad", f"Expired {-days} d ago: clients no longer enforce it."))
        elif days <= 30:
            out.append(("warn", f"Expires in {days} d."))
        else:
            out.append(("ok", f"Expires in {days} d."))
    return out


def trustkit_snippet(rec: dict[str, Any]) -> str:
    """The recommended pins as a TrustKit (iOS) domain entry, ready to paste."""
    tk = rec.get("trustkit") or {}
    hashes = tk.get("kTSKPublicKeyHashes") or []
    lines = ["kTSKPublicKeyHashes: @["]
    lines += [f'    @"{h}",' for h in hashes]
    lines.append("],")
    if tk.get("kTSKExpirationDate"):
        lines.append(f'kTSKExpirationDate: @"{tk["kTSKExpirationDate"]}",')
    return "\n".join(lines)


FILTERS = {
    "utc": timefmt.utc,
    "age": timefmt.age,
    "class_css": class_css,
    "state_css": state_css,
    "short_fp": short_fp,
    "number": number,
}
GLOBALS = {
    "CLASSES": CLASS_ORDER,
    "CLASS_MEANING": CLASS_MEANING,
    "STATE_MEANING": STATE_MEANING,
    "RULE_TEXT": RULE_TEXT,
    "URGENT_RULES": URGENT_RULES,
    "VERDICTS": VERDICTS,
    "pin_set_advice": pin_set_advice,
    "trustkit_snippet": trustkit_snippet,
}
