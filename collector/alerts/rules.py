"""The rules: which alert a pair event is, whether it is on and not ignored, then fire it.

The write path decides events atomically (``aggregates.writer.PairEvent``) and hands them to
``Alerter.handle`` on the writer thread, never on the request path:

* a new pair whose class is public-trust: ``new-public-trust-chain``;
* a new pair of any other class: ``new-chain`` (a brand-new host's first chain included);
* a public-trust pair's first failing report from an enforcing client: ``enforced-failures``.

``spike`` and ``pins-expiring`` are evaluated periodically (``spike.SpikeRule``,
``expiring.PinsExpiringRule``). A rule not in
COLLECTOR_ALERT_RULES fires nothing; a pair ignored in triage (itself, or an issuer of its
chain) fires nothing. Everything else goes to ``Outbox.fire``, whose cooldown key keeps one
alert per (rule, host, chain) per period across workers and replays.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence

import redis

from collector.aggregates.keys import Keys
from collector.aggregates.writer import FIRST_FAILING, NEW_PAIR, PairEvent
from collector.alerts.outbox import Outbox, build_alert
from collector.alerts.triage import is_ignored
from collector.intel.classify import PUBLIC_TRUST

NEW_PUBLIC_TRUST_CHAIN = "new-public-trust-chain"
ENFORCED_FAILURES = "enforced-failures"
NEW_CHAIN = "new-chain"
SPIKE = "spike"
PINS_EXPIRING = "pins-expiring"  # evaluated periodically: alerts.expiring
RULES = (NEW_PUBLIC_TRUST_CHAIN, ENFORCED_FAILURES, NEW_CHAIN, SPIKE, PINS_EXPIRING)

Ignored = Callable[[redis.Redis, Keys, str, str, Sequence[str]], bool]


def rule_for(event: PairEvent) -> str | None:
    """The rule an event is, or None for an event no rule knows."""
    if event.kind == NEW_PAIR:
        return NEW_PUBLIC_TRUST_CHAIN if event.classification == PUBLIC_TRUST else NEW_CHAIN
    if event.kind == FIRST_FAILING and event.classification == PUBLIC_TRUST:
        return ENFORCED_FAILURES
    return None


def take_turn(client: redis.Redis, lease: str, owner: str, every_s: float) -> bool:
    """Whether this worker evaluates a periodic rule this turn: the one that sets ``lease``
    (NX, held for the period less 100 ms, never released early: free again by the next turn)."""
    return bool(client.set(lease, owner, nx=True, px=max(1, int(every_s * 1000) - 100)))


class AlertStats:
    """Alerts fired by this worker, per rule (``pin_collector_alerts_fired_total{rule}``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fired: dict[str, int] = {}

    def add(self, rule: str) -> None:
        with self._lock:
            self._fired[rule] = self._fired.get(rule, 0) + 1

    @property
    def fired(self) -> dict[str, int]:
        """Rule -> alerts fired so far (a copy; every rule present, 0 when none)."""
        with self._lock:
            return {rule: self._fired.get(rule, 0) for rule in RULES}


class Alerter:
    """Maps pair events to rules and fires the alerts that are on and not ignored."""

    def __init__(self, client: redis.Redis, keys: Keys, outbox: Outbox, *,
                 rules: Iterable[str], public_url: str,
                 wall: Callable[[], float] = time.time,
                 ignored: Ignored = is_ignored) -> None:
        self.client = client
        self.keys = keys
        self.outbox = outbox
        self.rules = frozenset(rules)
        self.public_url = public_url
        self.wall = wall  # fired_at, and the window of the alert id; tests move it
        self.ignored = ignored
        self.stats = AlertStats()

    def handle(self, events: list[PairEvent]) -> None:
        """The write path's callback. Redis errors propagate: the events stay pending."""
        for event in events:
            rule = rule_for(event)
            if rule is None or rule not in self.rules:
                continue
            if self.ignored(self.client, self.keys, event.hostname, event.fingerprint,
                            event.pins):
                continue
            self.fire(rule, event.hostname, fingerprint=event.fingerprint,
                      classification=event.classification, label=event.label,
                      reports=event.reports, devices=event.devices,
                      first_seen_ms=event.first_seen_ms)

    def fire(self, rule: str, hostname: str, *, fingerprint: str | None,
             classification: str | None, label: str | None, reports: int, devices: int,
             first_seen_ms: int | None) -> bool:
        """Fire one alert now unless its cooldown holds; True when it fired."""
        alert = build_alert(rule=rule, hostname=hostname, fingerprint=fingerprint,
                            classification=classification, label=label, reports=reports,
                            devices=devices, first_seen_ms=first_seen_ms,
                            fired_at_ms=int(self.wall() * 1000),
                            cooldown_s=self.outbox.cooldown_s, public_url=self.public_url)
        fired = self.outbox.fire(alert)
        if fired:
            self.stats.add(rule)
        return fired
