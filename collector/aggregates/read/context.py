"""What every read view takes: the client to read through, the key layout, the retention, and
the classifier whose version decides whether a stored class is still current."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import redis

    from collector.aggregates.keys import Keys
    from collector.intel.classify import Classifier


@dataclass(frozen=True)
class ReadContext:
    """Built by ``collector.wiring.reader``; views never open connections themselves.

    Without a ``classifier`` the views show stored classes as they are (see ``read.classes``).
    """

    client: redis.Redis
    keys: Keys
    retention_days: int
    classifier: Classifier | None = None
