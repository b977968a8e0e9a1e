"""Rate limits of the report route: per source, global, and new chains per source per hour.

Mobile carriers put many devices behind one address, so a source is a /24 (IPv4) or /64
(IPv6) and its budget generous; limits only exist to stop one source from flooding the
collector, and the chain cap to stop one source from filling hosts' chain lists (each
distinct chain is a ranking member and pair keys; see ``Limits``).

The budgets live in Redis (``aggregates.limits``), shared by every worker and machine. The
per-worker token bucket ``RateLimiter`` is only the fallback while Redis cannot be reached:
then each worker enforces the limits alone, so a fleet admits up to workers x limit.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from functools import lru_cache
from typing import Protocol

from redis.exceptions import RedisClusterException, RedisError

MAX_SOURCES = 100_000
RETRY_REDIS_S = 5.0  # after a Redis failure, the per-worker fallback for this long
# What a failing Redis (or Cluster: a slot not covered is no RedisError) raises.
REDIS_DOWN = (RedisError, RedisClusterException, OSError)
GLOBAL = "*"  # the fallback's bucket key for the global limit
HOUR_S = 3600

log = logging.getLogger("collector.ratelimit")


@lru_cache(maxsize=4096)
def source_of(address: str | None) -> str:
    """The address's /24 or /64 as text. Cached: a report asks twice (rate, then chain cap),
    the fallback asks again, and parsing costs more than the rest of a local check."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return "unknown"
    prefix = 24 if ip.version == 4 else 64
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


class RateLimiter:
    def __init__(self, per_minute: int, *, burst: int | None = None) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst if burst is not None else max(1, per_minute * 2))
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def check(self, address: str | None, now: float | None = None) -> float:
        """0 when allowed; else the seconds to wait before the next report is accepted."""
        now = time.monotonic() if now is None else now
        key = source_of(address)
        with self._lock:
            tokens, last = self._buckets.pop(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            wait = 0.0
            if tokens >= 1:
                tokens -= 1
            else:
                wait = (1 - tokens) / self.rate
            self._buckets[key] = (tokens, now)
            if len(self._buckets) > MAX_SOURCES:
                self._buckets.popitem(last=False)
        return wait

    @staticmethod
    def retry_after(wait: float) -> str:
        return str(max(1, math.ceil(wait)))


class SharedStore(Protocol):
    """What ``Limits`` needs from Redis (``aggregates.limits.LimitStore``)."""

    def take(self, source: str | None, per_minute: int, burst: int) -> float: ...

    def admit_chain(self, source: str, fingerprint: str, cap: int,
                    now: float | None = None) -> float: ...


class ChainCap:
    """The per-worker fallback of the chain cap: distinct chains per source this hour."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._seen: OrderedDict[tuple[str, int], set[str]] = OrderedDict()
        self._lock = threading.Lock()

    def admit(self, source: str, fingerprint: str, now: float | None = None) -> float:
        now = time.time() if now is None else now
        hour = int(now // HOUR_S)
        with self._lock:
            seen = self._seen.pop((source, hour), set())
            self._seen[(source, hour)] = seen
            if len(self._seen) > MAX_SOURCES:
                self._seen.popitem(last=False)
            if fingerprint in seen:
                return 0.0
            if len(seen) >= self.cap:
                return max(1.0, (hour + 1) * HOUR_S - now)
            seen.add(fingerprint)
            return 0.0


class Limits:
    """Every limit of the report route, in Redis when it answers, else in this worker.

    ``check`` runs before the body is read (per source, then global: a flooding source is
    refused by its own budget before it can drain everyone's); ``check_chain`` after the
    report is validated, only when the chain cap is on. A limit set to 0 costs nothing: no
    Redis round trip and no lock.

    The chain cap counts distinct offending chains (by fingerprint) accepted from one source
    in one clock hour, across all hosts: a report whose chain that source already sent this
    hour always passes, a new one past the cap is refused (429 until the hour ends). It is
    enforced here and not where reports are aggregated because the host script only sees
    reports once they are durable, and a report refused later could not be answered 429.
    """

    def __init__(self, *, per_minute: int = 0, global_per_minute: int = 0,
                 chains_per_hour: int = 0, store: SharedStore | None = None,
                 on_fallback: Callable[[], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self.global_per_minute = global_per_minute
        self.chains_per_hour = chains_per_hour
        self.store = store
        self.on_fallback = on_fallback
        self.clock = clock
        self._local = RateLimiter(per_minute) if per_minute > 0 else None
        self._local_global = RateLimiter(global_per_minute) if global_per_minute > 0 else None
        self._local_chains = ChainCap(chains_per_hour) if chains_per_hour > 0 else None
        self._redis_back_at = 0.0

    @property
    def active(self) -> bool:
        return bool(self.per_minute or self.global_per_minute or self.chains_per_hour)

    def _shared(self) -> SharedStore | None:
        """The Redis store, unless it failed less than RETRY_REDIS_S ago."""
        if self.store is None or self.clock() < self._redis_back_at:
            return None
        return self.store

    def _failed(self, exc: Exception) -> None:
        if self.clock() >= self._redis_back_at:
            log.warning("rate limits: Redis unavailable (%s); per-worker limits for %.0f s",
                        type(exc).__name__, RETRY_REDIS_S)
        self._redis_back_at = self.clock() + RETRY_REDIS_S

    def _fallback(self) -> None:
        if self.on_fallback is not None:
            self.on_fallback()

    def check(self, address: str | None) -> float:
        """0 when a report from ``address`` may proceed; else the seconds to wait."""
        if not (self.per_minute or self.global_per_minute):
            return 0.0
        source = source_of(address)
        store = self._shared()
        if store is not None:
            try:
                wait = 0.0
                if self.per_minute:
                    wait = store.take(source, self.per_minute, 2 * self.per_minute)
                if not wait and self.global_per_minute:
                    wait = store.take(None, self.global_per_minute, 2 * self.global_per_minute)
                return wait
            except REDIS_DOWN as exc:
                self._failed(exc)
        self._fallback()
        wait = self._local.check(address) if self._local is not None else 0.0
        if not wait and self._local_global is not None:
            wait = self._local_global.check(GLOBAL)
        return wait

    def check_chain(self, address: str | None, fingerprint: str) -> float:
        """0 when a report with this chain may come from ``address`` now (the chain counts
        as seen from that source this hour); else the seconds until the hour ends."""
        if not self.chains_per_hour:
            return 0.0
        source = source_of(address)
        store = self._shared()
        if store is not None:
            try:
                return store.admit_chain(source, fingerprint, self.chains_per_hour)
            except REDIS_DOWN as exc:
                self._failed(exc)
        self._fallback()
        assert self._local_chains is not None
        return self._local_chains.admit(source, fingerprint)

    @staticmethod
    def retry_after(wait: float) -> str:
        return RateLimiter.retry_after(wait)
