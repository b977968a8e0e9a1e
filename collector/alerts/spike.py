"""The ``spike`` rule: a host's reports over the last 15 minutes exceed
``max(COLLECTOR_ALERT_SPIKE_MIN, 5 x)`` its trailing 24 h rate for 15 minutes.

Evaluated every ``EVERY_S`` from the durable writer loop (wiring adds the job), by one worker
at a time: the one that takes the ``lease:spike`` key (SET NX PX, held for the period, never
released early, so the whole deployment evaluates about once per period). Candidates are the
hosts seen in the window (``hosts:last``, at most ``CANDIDATES``, the most recent first).

The last 15 minutes are the host's three latest 5-minute buckets (``m5:N``, the current one
partial). The trailing rate is the host's hourly counts (``hHH`` of its day hashes) over the
24 whole hours before the hour the window starts in, divided by 96. Test reports count in
neither. The cooldown keeps one spike alert per host per period.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import redis

from collector.aggregates.keys import Keys
from collector.aggregates.read.rankings import latest_hosts
from collector.aggregates.read.replies import pfcount
from collector.alerts.rules import SPIKE, Alerter, take_turn

EVERY_S = 60.0
WINDOW_S = 900
BUCKET_S = 300
TRAILING_H = 24
FACTOR = 5
CANDIDATES = 1000


def _day(hour: int) -> str:
    return time.strftime("%Y%m%d", time.gmtime(hour * 3600))


class SpikeRule:
    """Evaluates ``spike`` under the lease; ``run`` is the writer loop's timed job."""

    def __init__(self, client: redis.Redis, keys: Keys, alerter: Alerter, *, spike_min: int,
                 owner: str, wall: Callable[[], float] = time.time,
                 every_s: float = EVERY_S) -> None:
        self.client = client
        self.keys = keys
        self.alerter = alerter
        self.spike_min = spike_min
        self.owner = owner
        self.wall = wall
        self.every_s = every_s

    def run(self) -> int:
        """Evaluate now if this worker gets the lease; return the alerts fired."""
        if SPIKE not in self.alerter.rules:
            return 0
        if not take_turn(self.client, self.keys.alerts.spike_lease, self.owner, self.every_s):
            return 0
        now = self.wall()
        hosts = latest_hosts(self.client, self.keys.glob.shards, int((now - WINDOW_S) * 1000),
                             CANDIDATES)
        fired = 0
        for hostname, recent in self._recent(hosts, now):
            if recent <= self.spike_min:
                continue  # cannot exceed max(spike_min, ...): no need for the trailing rate
            if recent > max(self.spike_min, FACTOR * self._trailing(hostname, now) / 96):
                fired += self._fire(hostname)
        return fired

    def _recent(self, hosts: list[str], now: float) -> list[tuple[str, int]]:
        """(hostname, reports in its last three 5-minute buckets) of each host."""
        if not hosts:
            return []
        current = int(now) // BUCKET_S
        buckets = range(current - WINDOW_S // BUCKET_S + 1, current + 1)
        with self.client.pipeline(transaction=False) as pipe:
            for h in hosts:
                hk = self.keys.host(h)
                for b in buckets:
                    pipe.get(hk.minutes5(b))
            replies: list[Any] = pipe.execute()
        width = len(buckets)
        return [(h, sum(int(v or 0) for v in replies[i * width:(i + 1) * width]))
                for i, h in enumerate(hosts)]

    def _trailing(self, hostname: str, now: float) -> int:
        """Reports of the host in the 24 whole hours before the window's first hour."""
        end = int(now - WINDOW_S) // 3600  # exclusive
        by_day: dict[str, list[str]] = {}
        for hour in range(end - TRAILING_H, end):
            by_day.setdefault(_day(hour), []).append(f"h{hour % 24:02d}")
        hk = self.keys.host(hostname)
        with self.client.pipeline(transaction=False) as pipe:
            for day, fields in by_day.items():
                pipe.hmget(hk.day(day), fields)
            replies: list[Any] = pipe.execute()
        return sum(int(v or 0) for values in replies for v in values)

    def _fire(self, hostname: str) -> int:
        hk = self.keys.host(hostname)
        with self.client.pipeline(transaction=False) as pipe:
            pipe.hmget(hk.meta, "reports", "first_seen")
            pfcount(pipe, hk.devices)
            (reports, first_seen), devices = pipe.execute()
        return int(self.alerter.fire(SPIKE, hostname, fingerprint=None, classification=None,
                                     label=None, reports=int(reports or 0),
                                     devices=int(devices or 0),
                                     first_seen_ms=int(first_seen) if first_seen else None))
