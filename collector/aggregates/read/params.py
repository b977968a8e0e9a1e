"""What a caller may ask of the read views, as both the API and the CLI accept it.

Cursors are offsets into a ranking, tied to the list (``kind``) and sort they were made for.
A filtered list's cursor is an offset into the ranking it scans, not into the filtered items.
"""

from __future__ import annotations

import base64
import binascii
import re

from collector.intel.classify import INTERCEPTION_TOOL, PUBLIC_TRUST, TLS_INSPECTION, UNKNOWN

FINGERPRINT = re.compile(r"[0-9a-f]{64}")
"""A chain fingerprint: SHA-256 of the chain, lower-case hex."""

CLASSES = (INTERCEPTION_TOOL, TLS_INSPECTION, PUBLIC_TRUST, UNKNOWN)
"""The four classifications a chain or a (host, chain) pair can have (SPEC section 6)."""

MAX_LIMIT = 500
CHAINS_OF_HOST = "host"
"""The ``sort`` a cursor of the chain list filtered by ``hostname`` carries: it is an offset
into that host's ranking, not the global one, so the two never mix."""
_CURSOR = re.compile(r"(?P<kind>[a-z]+)1\.(?P<sort>[a-z_]+)\.(?P<offset>\d{1,9})")


class BadCursor(ValueError):
    """A ``cursor`` that this server did not hand out (or one for another list)."""


def clamp_limit(limit: int) -> int:
    """Items per page, clamped to 1..MAX_LIMIT."""
    return min(max(limit, 1), MAX_LIMIT)


def encode_cursor(kind: str, sort: str, offset: int) -> str:
    raw = f"{kind}1.{sort}.{offset}".encode("ascii")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str | None, kind: str, sort: str) -> int:
    """Offset a cursor stands for; it must have been made for the same list and sort."""
    if cursor is None:
        return 0
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, ValueError):
        raise BadCursor(cursor) from None
    m = _CURSOR.fullmatch(raw)
    if m is None or m["kind"] != kind or m["sort"] != sort:
        raise BadCursor(cursor)
    return int(m["offset"])


def next_cursor(kind: str, sort: str, offset: int, count: int, more: bool) -> str | None:
    """The cursor after a page of ``count`` items read from ``offset``; None on the last."""
    return encode_cursor(kind, sort, offset + count) if more else None
