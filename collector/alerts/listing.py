"""The alert log read back for analysts: ``GET /v1/alerts`` and ``pin-collector alerts``.

The log (``keys.AlertKeys.log``) is a stream with one entry per alert fired, field ``alert``
holding the alert JSON; pages go newest first and a page's cursor is the last stream id it
showed (exclusive), so alerts fired meanwhile never shift a page.
"""

from __future__ import annotations

import json
import re
from typing import Any

import redis

from collector.aggregates.read.replies import text

ALERT_FIELDS = ("id", "rule", "hostname", "fingerprint", "classification", "label", "reports",
                "devices", "first_seen", "fired_at", "url")
_STREAM_ID = re.compile(r"([0-9]{1,20})-([0-9]{1,20})")
_U64 = 2**64


def valid_cursor(cursor: str) -> bool:
    """A stream id Redis accepts as an exclusive upper bound."""
    m = _STREAM_ID.fullmatch(cursor)
    if m is None:
        return False
    ms, seq = int(m[1]), int(m[2])
    return ms < _U64 and seq < _U64 and (ms, seq) != (0, 0)


def alert_item(raw: Any) -> dict[str, Any] | None:
    """The alert JSON of a log entry, reduced to the documented fields (None if unreadable)."""
    try:
        doc = json.loads(text(raw))
    except (ValueError, TypeError):
        return None
    if not isinstance(doc, dict):
        return None
    item = {k: doc.get(k) for k in ALERT_FIELDS}
    if isinstance(doc.get("pin_set"), dict):  # pins-expiring: the pin set it is about
        item["pin_set"] = doc["pin_set"]
    return item


def alerts_page(client: redis.Redis, log_key: str, cursor: str | None, limit: int) \
        -> tuple[list[dict[str, Any]], str | None]:
    """Alerts newest first after ``cursor`` (a valid stream id, exclusive), and the cursor of
    the next page (None on the last)."""
    top = f"({cursor}" if cursor else "+"
    entries: Any = client.xrevrange(log_key, top, "-", count=limit + 1)
    items = []
    for _, fields in entries[:limit]:
        item = alert_item(fields.get(b"alert", fields.get("alert")))
        if item is not None:
            items.append(item)
    return items, text(entries[limit - 1][0]) if len(entries) > limit else None
