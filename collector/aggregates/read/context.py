"""What every read view takes: the client to read through, the key layout, the retention."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import redis

    from collector.aggregates.keys import Keys


@dataclass(frozen=True)
class ReadContext:
    """Built by ``collector.wiring.reader``; views never open connections themselves."""

    client: redis.Redis
    keys: Keys
    retention_days: int
