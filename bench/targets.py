"""The targets every part checks its figures against: SPEC §7, and issue 12 for alerts."""

from __future__ import annotations

# collector / baseline throughput, at least, per COLLECTOR_SPOOL_FSYNC mode (SPEC §7)
TARGET_RATIOS = {"interval": 0.62, "always": 0.45}
TARGET_RATIO = TARGET_RATIOS["interval"]  # the default mode's
TARGET_P99_RATIO = 2.0  # collector / baseline p99 latency, at most
TARGET_GROWTH = 0.10  # Redis memory growth from 100 k to 200 k reports, at most
TARGET_QUERY_P99_MS = 10.0  # read p99, at most
TARGET_PAGE_MS = 50.0  # dashboard page server time (p99), at most
TARGET_ALERTS_RATIO = 0.95  # throughput, alerts on with hung receivers / alerts off, at least
TARGET_STORM_US = 10.0  # Redis µs per report (INFO commandstats), storm load, at most
TARGET_DIVERSE_US = 25.0  # the same, diverse load (1 k hosts x 10 chains), at most
TARGET_BALANCE = 1.5  # busiest primary's write CPU / the mean, 3-primary cluster, at most
