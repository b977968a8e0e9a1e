"""Small helpers shared by the read side: time windows, RFC 3339 output, cursors, decoding.

Kept apart from ``queries`` so the list and chain views can use them without import cycles.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

_CURSOR = re.compile(r"(?P<kind>[a-z]+)1\.(?P<sort>[a-z_]+)\.(?P<offset>\d{1,9})")


class BadCursor(ValueError):
    """A ``cursor`` that this server did not hand out (or one for another list)."""


@dataclass(frozen=True)
class Window:
    """Optional since/until bounds; None on both sides means the whole retention period."""

    since: datetime | None = None
    until: datetime | None = None

    @property
    def bounded(self) -> bool:
        return self.since is not None or self.until is not None

    def span(self, retention_days: int, now: datetime) -> tuple[datetime, datetime] | None:
        """The effective [since, until], clipped to what Redis still holds; None if empty."""
        floor = now - timedelta(days=retention_days)
        since = max(self.since or floor, floor)
        until = min(self.until or now, now)
        return (since, until) if since <= until else None

    def days(self, retention_days: int, now: datetime) -> list[datetime]:
        """UTC midnights of the daily buckets this window touches (at most retention + 2)."""
        span = self.span(retention_days, now)
        if span is None:
            return []
        since, until = span
        day = since.replace(hour=0, minute=0, second=0, microsecond=0)
        out: list[datetime] = []
        while day <= until and len(out) <= retention_days + 1:
            out.append(day)
            day += timedelta(days=1)
        return out

    def hour_in(self, day: datetime, hour: int) -> bool:
        start = day + timedelta(hours=hour)
        end = start + timedelta(hours=1)
        return (self.since is None or end > self.since) and \
            (self.until is None or start <= self.until)


def iso(ms: Any) -> str | None:
    """Epoch milliseconds (as Redis returns them) to an RFC 3339 UTC string, whole seconds."""
    if ms in (None, b"", ""):
        return None
    when = datetime.fromtimestamp(int(ms) / 1000, UTC).replace(microsecond=0)
    return rfc3339(when)


def rfc3339(when: datetime) -> str:
    return when.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def text(value: bytes | str) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else value


def ranked(pairs: Any) -> Iterator[tuple[str, int]]:
    """(member, score) pairs from a WITHSCORES reply, decoded, scores as ints."""
    for member, score in pairs:
        yield text(member), int(score)


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


def pfcount(pipe: Any, *keys: str) -> None:
    """Queue PFCOUNT: redis-py refuses ``pipe.pfcount`` in cluster mode even within a slot."""
    pipe.execute_command("PFCOUNT", *keys)
