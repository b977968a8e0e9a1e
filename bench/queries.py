"""Part 3: read latency over 10 k aggregated hosts (target p99 <= 10 ms).

The hosts are aggregated (>= 1 report each) in a private redis-server, the collector is
served against it (REDIS_URL), then sequential keep-alive requests of ``GET /v1/summary``
and ``GET /v1/hosts/<random host>`` are timed.
"""

from __future__ import annotations

import argparse
import random
import secrets
from pathlib import Path
from typing import Any

from bench import report
from bench.data import aggregated_hosts, counted_hosts
from bench.load import percentiles, timed_gets
from bench.servers import start_collector, stop
from bench.targets import TARGET_QUERY_P99_MS


def run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    from collector.server.embedded import RedisServer

    nhosts = 2_000 if args.quick else 10_000
    nreq = 500 if args.quick else 2_000
    server = RedisServer(tmp / "redis-queries", appendonly=False).start()
    try:
        writer, hosts, reports = aggregated_hosts(args.shared, server.url, nhosts)
        nhosts_counted = counted_hosts(writer)
        writer.client.close()
        token = secrets.token_urlsafe(24)
        proc, port, _log = start_collector(tmp, args.workers, token, "collector-queries",
                                           redis_url=server.url)
        try:
            rng = random.Random(3)
            summary = percentiles(timed_gets(
                port, token, iter(lambda: "/v1/summary", None), nreq, warm=50))
            host = percentiles(timed_gets(
                port, token, iter(lambda: f"/v1/hosts/{rng.choice(hosts)}", None), nreq,
                warm=50))
        finally:
            stop(proc)
    finally:
        server.stop()
    met = all(p["p99_ms"] <= TARGET_QUERY_P99_MS for p in (summary, host))
    result = {"hosts": nhosts_counted, "reports": len(reports), "requests": nreq,
              "summary": summary, "host": host, "met": met}
    report.queries(result, workers=args.workers)
    return result
