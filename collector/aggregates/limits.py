"""Rate limits shared by every worker and machine: GCRA buckets and per-source chain sets.

Each check is one script on one key (or two keys of one source, one slot), so a limit costs
one round trip and works the same on a Redis Cluster. Buckets use Redis's clock, not the
collector's, so machines with skewed clocks still share one budget. Redis errors propagate:
the caller (``web.ratelimit``) falls back to its per-worker limiter.
"""

from __future__ import annotations

import time
from typing import Any

import redis

from collector.aggregates import scripts
from collector.aggregates.keys import Keys, source_digest

HOUR_S = 3600
SET_MARGIN_S = 60
CHAIN_ID_HEX = 15  # 60 bits: an integer member, so a source's set is an intset


def chain_id(fingerprint: str) -> int:
    """CID: a chain as a small integer (a collision only merges two chains of one source)."""
    return int(fingerprint[:CHAIN_ID_HEX], 16)


class LimitStore:
    """The Redis side of ``web.ratelimit.Limits``."""

    def __init__(self, client: redis.Redis, keys: Keys, secret: bytes) -> None:
        self.client = client
        self.keys = keys.limits
        self.secret = secret
        # bare scripts (no common.lua): they run once per report
        self._limit: Any = client.register_script(scripts.bare("limit"))
        self._chains: Any = client.register_script(scripts.bare("chains_cap"))

    def sid(self, source: str) -> str:
        return source_digest(self.secret, source)

    def take(self, source: str | None, per_minute: int, burst: int) -> float:
        """Count one report against ``source``'s bucket (the global one when None):
        0 when allowed, else the seconds to wait."""
        key = self.keys.global_rate if source is None else self.keys.source_rate(self.sid(source))
        wait_ms = self._limit(keys=[key], args=[60_000 / per_minute, burst])
        return int(wait_ms) / 1000.0

    def admit_chain(self, source: str, fingerprint: str, cap: int,
                    now: float | None = None) -> float:
        """0 when a report with this chain may come from ``source`` this hour (the chain is
        recorded), else the seconds until the hour ends."""
        now = time.time() if now is None else now
        hour = int(now // HOUR_S)
        ends_in = (hour + 1) * HOUR_S - now
        key = self.keys.source_chains(self.sid(source), hour)
        ok = self._chains(keys=[key], args=[chain_id(fingerprint), cap,
                                            int(ends_in) + SET_MARGIN_S])
        return 0.0 if int(ok) else max(1.0, ends_in)
