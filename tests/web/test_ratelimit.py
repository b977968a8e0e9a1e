"""The per-source token bucket behind 429 responses."""

from __future__ import annotations

from collector.web.ratelimit import RateLimiter, source_of


def test_sources_are_address_prefixes() -> None:
    assert source_of("203.0.113.7") == source_of("203.0.113.200") == "203.0.113.0/24"
    assert source_of("2001:db8::1") == "2001:db8::/64"
    assert source_of(None) == source_of("not an address") == "unknown"


def test_burst_then_refill() -> None:
    limiter = RateLimiter(60, burst=3)
    assert [limiter.check("198.51.100.1", now=0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.check("198.51.100.2", now=0.0)
    assert 0 < wait <= 1.0
    assert RateLimiter.retry_after(wait) == "1"
    assert limiter.check("192.0.2.1", now=0.0) == 0.0  # another source is unaffected
    assert limiter.check("198.51.100.1", now=1.0) == 0.0  # one token back after a second
