"""The targets every part checks its figures against: SPEC §7, and issue 12 for alerts."""

from __future__ import annotations

TARGET_RATIO = 0.9  # collector / baseline throughput, at least
TARGET_P99_RATIO = 2.0  # collector / baseline p99 latency, at most
TARGET_GROWTH = 0.10  # Redis memory growth from 100 k to 200 k reports, at most
TARGET_QUERY_P99_MS = 10.0  # read p99, at most
TARGET_ALERTS_RATIO = 0.95  # throughput, alerts on with hung receivers / alerts off, at least
