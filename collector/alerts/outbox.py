"""The alert object and the one atomic step that fires it: cooldown, log, outbox.

``Outbox.fire`` runs ``lua/enqueue.lua`` in the ``{a}`` slot: SET the (rule, host, chain)
cooldown key NX EX; only if it was free, XADD the alert to the log (what ``GET /v1/alerts``
lists; MAXLEN ~ 10000) and one outbox entry per configured destination (what the deliverer
sends). Two workers, or a replay that hands the same event over again, therefore fire one
alert per cooldown. The alert id is computed once here and stored with every entry, so a
re-delivery carries the same id.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import redis

from collector.aggregates import scripts
from collector.aggregates.keys import Keys

LOG_MAXLEN = 10_000


def rfc3339_ms(ms: int) -> str:
    """Epoch milliseconds as RFC 3339 UTC, whole seconds."""
    when = datetime.fromtimestamp(ms / 1000, UTC).replace(microsecond=0)
    return when.isoformat().replace("+00:00", "Z")


def alert_id(rule: str, hostname: str, fp: str | None, fired_at_s: int, cooldown_s: int) -> str:
    """First 32 hex of SHA-256 of rule, hostname, FP (empty for spike) and the cooldown
    window's start (fired_at floored to the cooldown), tab-separated."""
    window = fired_at_s - fired_at_s % cooldown_s
    text = f"{rule}\t{hostname}\t{fp or ''}\t{window}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def build_alert(*, rule: str, hostname: str, fingerprint: str | None,
                classification: str | None, label: str | None, reports: int, devices: int,
                first_seen_ms: int | None, fired_at_ms: int, cooldown_s: int,
                public_url: str) -> dict[str, Any]:
    """The alert object of SPEC section 9, exactly as generic webhooks receive it."""
    return {
        "id": alert_id(rule, hostname, fingerprint, fired_at_ms // 1000, cooldown_s),
        "rule": rule,
        "hostname": hostname,
        "fingerprint": fingerprint,
        "classification": classification,
        "label": label or None,
        "reports": reports,
        "devices": devices,
        "first_seen": rfc3339_ms(first_seen_ms) if first_seen_ms else None,
        "fired_at": rfc3339_ms(fired_at_ms),
        "url": f"{public_url.rstrip('/')}/hosts/{quote(hostname, safe='')}",
    }


def encode(alert: dict[str, Any]) -> str:
    """Compact JSON: the bytes stored in the log and outbox and POSTed to webhooks."""
    return json.dumps(alert, separators=(",", ":"), ensure_ascii=False)


class Outbox:
    """Fires alerts into the ``{a}`` slot: one Lua call per alert."""

    def __init__(self, client: redis.Redis, keys: Keys, *, destinations: Sequence[str],
                 cooldown_s: int) -> None:
        self.client = client
        self.keys = keys.alerts
        self.destinations = tuple(destinations)  # ids (webhook:N, slack:N), never URLs
        self.cooldown_s = cooldown_s
        self._script = client.register_script(scripts.source("enqueue", "collector.alerts"))

    def fire(self, alert: dict[str, Any], subject: str | None = None) -> bool:
        """Enqueue ``alert`` unless its (rule, host, chain) is cooling down; True if it fired.
        ``subject`` stands for the chain when the alert is about something else (the pin set
        of ``pins-expiring``).

        Raises redis errors (the caller decides whether to retry)."""
        ak = self.keys
        keys = [ak.cooldown(alert["rule"], alert["hostname"], subject or alert["fingerprint"]),
                ak.log, ak.outbox]
        args = [self.cooldown_s, alert["id"], encode(alert), LOG_MAXLEN, *self.destinations]
        return bool(self._script(keys=keys, args=args))
