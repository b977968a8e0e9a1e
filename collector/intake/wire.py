"""Bytes off the wire: the content checks, the bounded read and the strict JSON parse.

Cheapest rejection first. The body is read by hand with a hard cap because Werkzeug
silently truncates chunked bodies at MAX_CONTENT_LENGTH (Android always sends chunked).
The JSON parser refuses what RFC 7469 forbids and what Python's json accepts silently:
duplicate keys, NaN/Infinity, and nesting deep enough to raise RecursionError.
"""

from __future__ import annotations

import json
import threading
from typing import IO, Any

from collector.intake.rejection import Rejection

ACCEPTED_TYPES = frozenset({"application/json", "application/expect-ct-report+json"})
MAX_DEPTH = 32
_CHUNK = 64 * 1024


def check_headers(content_type: str | None, content_encoding: str | None,
                  content_length: int | None, cap: int) -> None:
    """Refuse from the headers alone, before reading a byte of the body."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media not in ACCEPTED_TYPES:
        raise Rejection(415, "unsupported-media-type",
                      "Reports must be sent as application/json.")
    if content_encoding and content_encoding.strip().lower() != "identity":
        raise Rejection(415, "unsupported-content-encoding",
                      "Compressed report bodies are not accepted.")
    if content_length is not None and content_length > cap:
        raise Rejection(413, "body-too-large", "The report body is larger than allowed.")


def read_capped(stream: IO[bytes], cap: int) -> bytes:
    """Read the whole body, or fail with 413 after reading at most cap + 1 bytes."""
    parts: list[bytes] = []
    size = 0
    while True:
        try:
            chunk = stream.read(min(_CHUNK, cap + 1 - size))
        except (TimeoutError, BlockingIOError):  # the view's receive timeout: a stalled client
            raise Rejection(408, "request-timeout", "The report body did not arrive in time.",
                          headers={"Connection": "close"}) from None
        if not chunk:
            break
        parts.append(chunk)
        size += len(chunk)
        if size > cap:
            raise Rejection(413, "body-too-large", "The report body is larger than allowed.")
    return b"".join(parts)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise ValueError("duplicate key")
    return obj


def _no_constants(name: str) -> Any:
    raise ValueError("non-finite number")


def _depth(value: Any, limit: int) -> bool:
    """True when ``value`` nests no deeper than ``limit`` containers."""
    if not isinstance(value, (dict, list)):
        return True
    stack = [(value, 1)]  # containers only: a report's scalars are looked at once, here
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return False
        for child in (item.values() if isinstance(item, dict) else item):
            if isinstance(child, (dict, list)):
                stack.append((child, depth + 1))
    return True


_decoders = threading.local()


def _decoder() -> json.JSONDecoder:
    """This thread's strict decoder: built once, not per body as ``json.loads(**kw)`` does."""
    found: json.JSONDecoder | None = getattr(_decoders, "d", None)
    if found is None:
        found = _decoders.d = json.JSONDecoder(object_pairs_hook=_no_duplicates,
                                               parse_constant=_no_constants)
    return found


_MALFORMED = "The body is not valid UTF-8 JSON."


def parse_json(body: bytes) -> Any:
    """Strict UTF-8 JSON, or a 400 problem that says nothing about the input."""
    if not body:
        raise Rejection(400, "malformed-json", "The body is empty.")
    try:
        text = body.decode("utf-8")
        doc = _decoder().decode(text)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeError are ValueErrors
        raise Rejection(400, "malformed-json", _MALFORMED) from exc
    # Depth is at most the number of "[" and "{" in the body (a report has a handful), so
    # counting them spares the walk of nearly every body; nesting is never deeper than that.
    if body.count(b"[") + body.count(b"{") > MAX_DEPTH and not _depth(doc, MAX_DEPTH):
        raise Rejection(400, "malformed-json", "The body nests too deeply.")
    return doc
