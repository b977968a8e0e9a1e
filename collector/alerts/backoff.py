"""When a failed delivery is tried again: exponential backoff with a stable jitter.

The n-th retry waits ``min(FIRST_S * 2**(n-1), CAP_S)`` times a jitter factor in 0.8-1.0 (so
the first wait is at most 2 s and none exceeds 5 minutes, as SPEC §9 promises): a receiver
that was down gets its alerts within seconds of coming back, and many collectors retrying one
receiver do not all knock at once. The factor is derived from the entry id and
the attempt number rather than drawn at random: the retry scan looks at every pending entry
about once a second, and a fresh draw on each look would favour the short end of the range.
"""

from __future__ import annotations

import hashlib

FIRST_S = 2.0
CAP_S = 300.0
JITTER = 0.2


def jitter(entry_id: str, attempt: int) -> float:
    """A factor in [1 - JITTER, 1], fixed for one (entry, attempt)."""
    digest = hashlib.blake2b(f"{entry_id}/{attempt}".encode(), digest_size=8).digest()
    unit = int.from_bytes(digest, "big") / float(1 << 64)
    return 1.0 - JITTER * unit


def delay(attempts: int, entry_id: str, *, scale: float = 1.0) -> float:
    """Seconds to wait after the ``attempts``-th failed attempt (1 for the first failure).

    ``scale`` shrinks the whole schedule (tests use a small one instead of waiting minutes).
    """
    base: float = min(FIRST_S * 2.0 ** max(0, min(attempts, 32) - 1), CAP_S)
    return base * jitter(entry_id, attempts) * scale
