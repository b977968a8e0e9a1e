"""Part 2: Redis memory after 100 k and after 200 k reports (growth target <= 10 %).

A private redis-server (no AOF); reports over 100 hosts x 10 chains, written through
ReportStore.write in batches of 500; INFO used_memory and MEMORY USAGE per key shape at
both points.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bench import report
from bench.data import ReportMaker, Writer, fill, make_chains, memory_by_kind, used_memory
from bench.targets import TARGET_GROWTH


def run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    from collector.server.embedded import RedisServer

    n = 20_000 if args.quick else 100_000
    hosts = [f"api{i}.example.com" for i in range(100)]
    chains = make_chains(10)
    maker = ReportMaker(args.shared, chains, devices=args.devices, seed=1)
    server = RedisServer(tmp / "redis-memory", appendonly=False).start()
    try:
        writer = Writer(server.url)
        empty = used_memory(writer.client)
        b1, w1 = fill(maker, writer, hosts, n, len(chains))
        first = used_memory(writer.client)
        kinds1 = memory_by_kind(writer.client)
        b2, w2 = fill(maker, writer, hosts, n, len(chains))
        second = used_memory(writer.client)
        kinds2 = memory_by_kind(writer.client)
        totals = int(writer.client.hget("pc:{g}:totals", "reports") or 0)
        keys = int(writer.client.dbsize())
        writer.client.close()
    finally:
        server.stop()
    growth = (second - first) / first
    result = {"reports": [n, 2 * n], "hosts": len(hosts), "chains": len(chains),
              "devices": args.devices,
              "used_memory_empty": empty, "used_memory": [first, second],
              "growth": growth, "growth_met": growth <= TARGET_GROWTH, "counted": totals,
              "keys": keys,
              "bytes_per_host": [(first - empty) / len(hosts), (second - empty) / len(hosts)],
              "write_reports_per_s": 2 * n / (w1 + w2),
              "by_key_shape": {k: {"keys": v[1], "bytes": [kinds1.get(k, (0, 0))[0], v[0]]}
                               for k, v in kinds2.items()}}
    report.memory(result, build_s=b1 + b2)
    return result
