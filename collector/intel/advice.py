"""Pin-set advice for the host view: would enforcing these pins today break real users?

Pure functions over pins and dates, so the host view can be computed from Redis aggregates
without touching certificates again.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Sequence
from typing import Any

from collector.intake.pins import canonical_pin

_DATE_PREFIX = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")


def normalize_pin(pin: str) -> str:
    """Base64 digest from either ``pin-sha256="..."`` (report known-pins) or a bare digest;
    anything that is not a SHA-256 pin is kept as written (it can then match nothing)."""
    return canonical_pin(pin) or pin.strip()


def _unique(pins: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(p for p in (normalize_pin(x) for x in pins) if p))


def parse_expiration(expiration: str | None) -> datetime.date | None:
    """Best-effort: YYYY-MM-DD (TrustKit) or RFC 3339 (HPKP), as a UTC date; None otherwise."""
    if not expiration:
        return None
    text = expiration.strip()
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        m = _DATE_PREFIX.match(text)
        if m is None:
            return None
        try:
            return datetime.date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError:
            return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(datetime.UTC)
    return moment.date()


def pin_set_advice(
    pins: Sequence[str],
    expiration: str | None,
    public_trust_pins: set[str],
    today: datetime.date,
) -> dict[str, Any]:
    """Health of one pin set as clients report it.

    A set with no backup pin bricks the app on the next key rotation; a pin that matches a key
    already seen in a public-trust chain means the operator's real key is (at least partly)
    covered; an expiry that is near or past means pinning silently stops soon or already did.
    """
    unique = _unique(pins)
    trusted = {normalize_pin(p) for p in public_trust_pins}
    expires = parse_expiration(expiration)
    matching = [p for p in unique if p in trusted]
    return {
        "has_backup_pin": len(unique) >= 2,
        "matches_public_trust_key": bool(matching),
        "matching_pins": matching,
        "expires": expiration or None,
        "days_to_expiry": (expires - today).days if expires is not None else None,
    }


def pins_that_would_pass(
    chain_pins: Sequence[str], *, ends_at_root: bool = True
) -> list[dict[str, str]]:
    """Ready-to-paste pins for a public-trust chain, leaf first.

    Any one of them in the app's pin set would have made the chain pass: TrustKit and Android's
    network security config match a pin anywhere in the validated chain. Pass the verified path
    (``Classification.verified_pins``, which ends at the root); for a chain as served, without
    its root, pass ``ends_at_root=False``.
    """
    pins = _unique(chain_pins)
    advice = []
    for i, pin in enumerate(pins):
        if i == 0:
            position = "leaf"
        elif i == len(pins) - 1 and ends_at_root:
            position = "root"
        else:
            position = "intermediate"
        advice.append(
            {
                "position": position,
                "pin": pin,
                "trustkit": pin,  # kTSKPublicKeyHashes takes the bare base64 digest
                "android_nsc": f'<pin digest="SHA-256">{pin}</pin>',
            }
        )
    return advice
