"""Times as analysts read them: UTC to the minute, and how long ago (or how soon).

The views hand out RFC 3339 strings; a page shows ``2026-12-01 13:20 UTC`` in a ``<time>``
element whose ``datetime`` is the original string, followed by ``(3 h ago)``.
"""

from __future__ import annotations

from datetime import UTC, datetime


def parse(value: str | None) -> datetime | None:
    """An RFC 3339 (or ``YYYY-MM-DD``) string as an aware UTC datetime; None if it is not."""
    if not value or not isinstance(value, str):
        return None
    try:
        found = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if found.tzinfo is None:
        found = found.replace(tzinfo=UTC)
    return found.astimezone(UTC)


def utc(value: str | None) -> str:
    """``2026-12-01 13:20 UTC``; a date alone stays a date; anything unreadable as it is."""
    found = parse(value)
    if found is None:
        return value or "—"
    if value and len(value) == 10:
        return found.strftime("%Y-%m-%d")
    return found.strftime("%Y-%m-%d %H:%M UTC")


def _span(seconds: float) -> str:
    minutes = seconds / 60
    if minutes < 1:
        return f"{int(seconds)} s"
    if minutes < 60:
        return f"{int(minutes)} min"
    hours = minutes / 60
    if hours < 48:
        return f"{int(hours)} h"
    days = hours / 24
    if days < 730:
        return f"{int(days)} d"
    return f"{int(days / 365)} y"


def age(value: str | None, now: datetime | None = None) -> str:
    """``3 h ago``, ``in 56 d``, ``just now``; empty when the time is unreadable."""
    found = parse(value)
    if found is None:
        return ""
    delta = ((now or datetime.now(UTC)) - found).total_seconds()
    if abs(delta) < 30:
        return "just now"
    return f"{_span(delta)} ago" if delta > 0 else f"in {_span(-delta)}"
