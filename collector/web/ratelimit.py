"""Per-source rate limit for the report route: a token bucket per address prefix.

Mobile carriers put many devices behind one address, so the bucket is per /24 (IPv4) or
/64 (IPv6) and generous; it only exists to stop one source from flooding the collector.
Buckets live in this worker's memory (bounded), so the effective limit is per worker.
"""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections import OrderedDict

MAX_SOURCES = 100_000


def source_of(address: str | None) -> str:
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
