"""The ``pins-expiring`` rule: a pin set still seen in the field expires within
COLLECTOR_ALERT_PIN_EXPIRY_DAYS (default 30). After that date TrustKit stops enforcing it,
silently: the builds carrying it lose their pinning without anyone noticing.

"Still seen in the field" is a member of a host's field pin inventory (``read.inventory``)
seen within the retention, the default window of every view. A pin set expiring today counts
(0 days); one already past its date does not (it stopped being enforced, the warning is moot;
the inventory and the rehearsal flag it as expired).

Evaluated every ``EVERY_S`` from the durable writer loop (wiring adds the job), by one worker
at a time: the one that takes the ``lease:pins-expiring`` key (SET NX PX, held for the
period). It reads every host seen within the retention (``hosts:last``, by pages) and each
one's inventory members, whose text holds the pins and the expiration. One alert per (host,
pin set) per cooldown: the cooldown key and the alert id take the pin set's digest where
other rules take the chain's fingerprint; ``fingerprint`` and ``classification`` are null and
``pin_set`` says which pins, when, and the builds carrying them. ``reports``, ``devices`` and
``first_seen`` are the pin set's on that host (all builds, all-time).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import redis

from collector.aggregates.keys import Keys
from collector.aggregates.read import sketch
from collector.aggregates.read.context import ReadContext
from collector.aggregates.read.inventory import parse_member, read_inventory
from collector.aggregates.read.rankings import seen_since
from collector.aggregates.read.replies import text
from collector.aggregates.read.windows import Window
from collector.alerts.outbox import alert_id, build_alert
from collector.alerts.rules import PINS_EXPIRING, Alerter, take_turn
from collector.intel.rehearsal import days_to_expiry

EVERY_S = 300.0
PAGE = 500

PinSetKey = tuple[tuple[str, ...], str]


def pin_set_digest(pins: tuple[str, ...], expiration: str) -> str:
    """Names a pin set (with its expiration) in the cooldown key and the alert id."""
    raw = json.dumps([sorted(pins), expiration], separators=(",", ":"))
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:32]


class PinsExpiringRule:
    """Evaluates ``pins-expiring`` under the lease; ``run`` is the writer loop's timed job."""

    def __init__(self, client: redis.Redis, keys: Keys, alerter: Alerter, *, days: int,
                 retention_days: int, owner: str, wall: Callable[[], float] = time.time,
                 every_s: float = EVERY_S) -> None:
        self.client = client
        self.keys = keys
        self.alerter = alerter
        self.days = days
        self.retention_days = retention_days
        self.owner = owner
        self.wall = wall
        self.every_s = every_s

    def run(self) -> int:
        """Evaluate now if this worker gets the lease; return the alerts fired."""
        if PINS_EXPIRING not in self.alerter.rules:
            return 0
        if not take_turn(self.client, self.keys.alerts.pins_expiring_lease, self.owner,
                         self.every_s):
            return 0
        now = datetime.fromtimestamp(self.wall(), UTC)
        floor = int(now.timestamp() * 1000) - self.retention_days * 86_400_000
        fired = 0
        for hosts in seen_since(self.client, self.keys.glob.shards, floor, PAGE):
            with self.client.pipeline(transaction=False) as pipe:
                for h in hosts:
                    pipe.zrangebyscore(self.keys.host(h).inventory, floor, "+inf")
                members: list[Any] = pipe.execute()
            for hostname, raw in zip(hosts, members, strict=True):
                for key, days in self._expiring([text(m) for m in raw], now).items():
                    fired += self._fire(hostname, key, days, now)
        return fired

    def _expiring(self, members: list[str], now: datetime) -> dict[PinSetKey, int]:
        """The pin sets among ``members`` that expire within the horizon: days left."""
        out: dict[PinSetKey, int] = {}
        for m in members:
            parts = parse_member(m)
            if parts is None or not parts[3] or parts[4] is None:
                continue
            days = days_to_expiry(parts[4], now.date())
            if days is not None and 0 <= days <= self.days:
                out[(tuple(sorted(parts[3])), parts[4])] = days
        return out

    def _fire(self, hostname: str, key: PinSetKey, days: int, now: datetime) -> int:
        pins, expiration = key
        subject = pin_set_digest(pins, expiration)
        outbox = self.alerter.outbox
        if self.client.exists(self.keys.alerts.cooldown(PINS_EXPIRING, hostname, subject)):
            return 0  # fired this period: no need to read the figures
        ctx = ReadContext(self.client, self.keys, self.retention_days)
        inv = read_inventory(ctx, hostname, Window(), now)
        entries = [e for e in (inv.entries if inv else [])
                   if (tuple(sorted(e.pins)), e.expiration) == key]
        if not entries:
            return 0
        firsts = [e.first_ms for e in entries if e.first_ms is not None]
        fired_ms = int(self.wall() * 1000)
        alert = build_alert(
            rule=PINS_EXPIRING, hostname=hostname, fingerprint=None, classification=None,
            label=f"pin set expires {expiration} (in {days} days)",
            reports=sum(e.reports for e in entries),
            devices=sketch.count(e.sketch for e in entries),
            first_seen_ms=min(firsts) if firsts else None, fired_at_ms=fired_ms,
            cooldown_s=outbox.cooldown_s, public_url=self.alerter.public_url)
        alert["id"] = alert_id(PINS_EXPIRING, hostname, subject, fired_ms // 1000,
                               outbox.cooldown_s)
        alert["pin_set"] = {
            "pins": list(pins), "expiration": expiration, "days_to_expiry": days,
            "app_versions": [{"app_id": a, "app_version": v, "platform": p} for a, v, p in
                             dict.fromkeys(e.build for e in entries)],
        }
        if not outbox.fire(alert, subject=subject):
            return 0
        self.alerter.stats.add(PINS_EXPIRING)
        return 1
