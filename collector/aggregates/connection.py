"""Redis clients for the collector: standalone or Cluster, both failing fast."""

from __future__ import annotations

from typing import cast

import redis
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.retry import Retry

CLUSTER_SCHEME = "redis+cluster://"


def connect(url: str, timeout: float, *, pool_size: int = 4, retries: int = 0) -> redis.Redis:
    """A client that fails fast: no silent retries, so every outage is seen by the writer.

    Readers pass ``retries=1``: a read is idempotent, and after a Redis restart each pooled
    connection fails once before it reconnects.

    ``redis+cluster://host:port`` gives a Redis Cluster client. Every command and pipeline
    the collector sends keeps each script's keys in one slot, so the two clients are used
    the same way; the cast records that shared surface for the type checker.
    """
    if url.startswith(CLUSTER_SCHEME):
        cluster = RedisCluster.from_url(
            "redis://" + url.removeprefix(CLUSTER_SCHEME), socket_timeout=timeout,
            socket_connect_timeout=timeout, retry=Retry(NoBackoff(), retries),
            max_connections=pool_size * 8,
        )
        return cast(redis.Redis, cluster)
    return redis.Redis.from_url(
        url, socket_timeout=timeout, socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), retries), max_connections=pool_size, health_check_interval=0,
    )
