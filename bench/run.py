"""Benchmarks for the SPEC §7 targets (ingest throughput, Redis memory, query latency) and
issue 12's (ingest throughput with alerts firing at hung receivers).

Usage (from the repository root; `make bench BENCH_ARGS="..."` runs the same):

    .venv/bin/python bench/run.py                 # everything, full size (~5 minutes)
    .venv/bin/python bench/run.py --quick         # smoke run (~2 minutes)
    .venv/bin/python bench/run.py --only throughput --rounds 5 --duration 15
    .venv/bin/python bench/run.py --only alerts --rounds 3 --duration 8
    .venv/bin/python bench/run.py --json bench-results.json

Parts (``--only`` picks one):

throughput
    Starts ``pin-collector serve`` (embedded Redis, temporary data dir) once per durability
    mode of ``--modes`` (COLLECTOR_SPOOL_FSYNC=interval and =always by default), and
    ``../shared/bench/baseline_app.py`` under gunicorn with the same worker count, worker
    class and threads as ``collector/server/gunicorn_conf.py`` (``--baseline-worker-class sync``
    compares against gunicorn's defaults instead), and ``bench/ceiling_app.py`` (the
    baseline plus the collector's JSON parsing and validation, nothing stored: a bound on
    any validating collector) the same way. After a 2 s warm-up of each, loads them
    alternately, ``--rounds`` times, with ``wrk -t1 -c C --latency -s post.lua`` POSTing one
    3-4 KB TrustKit iOS report (the shared example padded with a longer bundle id and backup
    pins; ``--report`` uses another file). Prints requests/s, p99, non-2xx and the server's
    CPU per request per run, the median collector/baseline throughput ratio per mode
    (targets >= 0.62 interval, >= 0.45 always), the ceiling's ratio, and the p99 ratio
    (target <= 2), then checks with ``GET /v1/summary`` that each collector counted at least
    every report wrk saw answered 2xx (wrk drops up to C in-flight requests per run when it
    stops, which the server may still count, so "counted" may exceed "answered" by at most
    C per run).
memory
    A private redis-server (no AOF); 100 k reports over 100 hosts x 10 chains (EC P-256
    CA + leaf each), 50 k devices (``--devices``), 4 app versions, written with
    ReportStore.write in batches of 500; INFO used_memory after 100 k and after 200 k
    (target growth <= 10 %), and MEMORY USAGE summed per key shape at both points.
queries
    10 k hosts aggregated (>= 1 report each) in a private redis-server, the collector
    served against it (REDIS_URL), then sequential keep-alive requests of
    ``GET /v1/summary`` and ``GET /v1/hosts/<random host>``: p50/p99 (target p99 <= 10 ms).
alerts
    Issue 12: ingest throughput with every alert rule on and the webhook and Slack
    destinations at two loopback receivers that accept and never answer, vs. alerts off
    (``COLLECTOR_ALERT_RULES=none``): each round starts a fresh collector for each, in turn,
    and loads it (2 s warm-up, then ``--duration``) with ``bench/new_hosts.lua``, which gives
    every request (every ``--new-every`` requests) a new hostname, so every report is a new
    (host, chain) pair and fires an alert. Prints req/s per run, the ratio (b)/(a) and its
    median (target >= 0.95), and the alerts fired (outbox entries), pending and delivered.
dashboard
    The dashboard's pages (overview, overview over 7 days, hosts, hosts of one class, a
    random host, a random chain, alerts) over the same 10 k hosts plus 2 000 alerts, one
    signed-in session, sequential keep-alive requests: p50/p99 of the server time each page
    reports in ``Server-Timing`` (target p99 <= 50 ms), and the client's wall time. Last,
    the aggregated day is copied to the six days before it and the 7-day overview is timed
    again (a week of 10 k hosts a day: the windowed summary's worst case).

redis
    Redis CPU per report from INFO commandstats on a storm load (one host, three chains,
    100 k devices; target <= 10 µs) and a diverse one (1 k hosts x 10 chains; <= 25 µs),
    written through ReportStore in batches of ``--batch`` (and the storm in batches of 100);
    the diverse load on a local 3-primary cluster (busiest primary's write CPU / mean,
    target <= 1.5); ``--processes`` writer processes against one Redis (reports/s one
    primary absorbs); the floor under the diverse figure (counters per report x the cheapest
    counter update); then both loads through ``pin-collector serve`` and wrk, at the batches
    its writers form. See bench/redis_cpu.py, redis_floor.py and redis_e2e.py.

``--quick`` shrinks everything: 2 rounds x 3 s, 20 k + 20 k reports, 2 k hosts.

Everything listens on loopback only; every child runs in its own process group and is
killed on exit. wrk comes from Debian (``apt-get install wrk``); without it this exits 2.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import (  # noqa: E402
    alerts,
    dashboard,
    memory,
    queries,
    redis_cpu,
    redis_e2e,
    report,
    servers,
    throughput,
)

PARTS = ("throughput", "memory", "queries", "alerts", "dashboard", "redis")


def _on_signal(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="short smoke run")
    p.add_argument("--only", choices=PARTS)
    p.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    p.add_argument("--connections", type=int, default=8, help="wrk connections (default 8)")
    p.add_argument("--rounds", type=int, help="alternating rounds (default 3; quick 2)")
    p.add_argument("--duration", type=float, help="seconds per wrk run (default 10; quick 3)")
    p.add_argument("--baseline-worker-class", choices=("same", "sync"), default="same",
                   help="baseline worker class: the collector's (default) or gunicorn's sync")
    p.add_argument("--modes", default="interval,always",
                   help="throughput part: the COLLECTOR_SPOOL_FSYNC modes to load, one "
                        "collector each, alternating with the baseline and the ceiling "
                        "(default %(default)s)")
    p.add_argument("--report", help="report body to POST (default: a padded 3.5 KB TrustKit "
                                    "iOS report)")
    p.add_argument("--shared", type=Path, default=REPO.parent / "shared",
                   help="the shared directory (bench/, examples/); default %(default)s")
    p.add_argument("--devices", type=int, default=50_000,
                   help="distinct devices in the memory part (default %(default)s)")
    p.add_argument("--new-every", type=int, default=1, metavar="N",
                   help="alerts part: a new hostname (a new alert) every N requests "
                        "(default 1: every request)")
    p.add_argument("--batch", type=int, default=1000,
                   help="redis part: reports per ReportStore.write (default %(default)s)")
    p.add_argument("--callgrind", action="store_true",
                   help="redis part: also count Redis's instructions per report (valgrind)")
    p.add_argument("--processes", type=int, default=4,
                   help="redis part: writer processes of the parallel run (default %(default)s)")
    p.add_argument("--json", type=Path, help="write every figure as JSON to this path")
    args = p.parse_args(argv)
    args.shared = args.shared.resolve()
    args.rounds = args.rounds or (2 if args.quick else 3)
    args.duration = args.duration or (3.0 if args.quick else 10.0)

    if args.new_every < 1:
        p.error("--new-every must be at least 1")
    parts = [args.only] if args.only else list(PARTS)
    wrk = shutil.which("wrk")
    if {"throughput", "alerts", "redis"} & set(parts) and wrk is None:
        print("wrk is not installed: apt-get install wrk", file=sys.stderr)
        return 2

    signal.signal(signal.SIGTERM, _on_signal)
    results: dict[str, Any] = {"quick": args.quick, "cpus": os.cpu_count()}
    tmp = Path(tempfile.mkdtemp(prefix="pc-bench-"))
    try:
        for part in parts:
            report.part_start(part)
            t = time.monotonic()
            if part == "throughput":
                assert wrk is not None
                results[part] = throughput.run(args, tmp, wrk)
            elif part == "alerts":
                assert wrk is not None
                results[part] = alerts.run(args, tmp, wrk)
            elif part == "memory":
                results[part] = memory.run(args, tmp)
            elif part == "dashboard":
                results[part] = dashboard.run(args, tmp)
            elif part == "redis":
                assert wrk is not None
                results[part] = redis_cpu.run(args, tmp)
                results[part]["collector"] = redis_e2e.run(args, tmp, wrk)
            else:
                results[part] = queries.run(args, tmp)
            report.part_end(part, time.monotonic() - t)
    finally:
        servers.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", "utf-8")
        report.json_written(args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
