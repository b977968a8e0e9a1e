"""Pins as clients write them (``pin-sha256="…"`` or bare base64), read into one canonical form.

RFC 7469 section 2.1: directive names are case-insensitive and optional whitespace may stand
around ``=``; the value is the base64 of a SHA-256 digest. Canonical form is padded base64
of the 32-byte digest, so the same key compares equal however a client spelled it.
"""

from __future__ import annotations

import base64
import binascii
import re

_DIRECTIVE = re.compile(r'\s*pin-sha256\s*=\s*"([A-Za-z0-9+/=]{1,64})"\s*', re.I)
_BARE = re.compile(r"\s*([A-Za-z0-9+/]{42,44}={0,2})\s*")


def canonical_pin(item: str) -> str | None:
    """The canonical base64 digest of one pin, or None when it is not a SHA-256 pin."""
    m = _DIRECTIVE.fullmatch(item) or _BARE.fullmatch(item)
    if m is None:
        return None
    value = m.group(1)
    try:
        digest = base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None
    return base64.b64encode(digest).decode("ascii") if len(digest) == 32 else None
