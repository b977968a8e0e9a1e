"""Part 1: collector vs. the bare baseline endpoint vs. the parse+validate ceiling, under wrk.

All three run under gunicorn with the same workers (and, by default, the collector's worker
class, threads, keep-alive and backlog); after a warm-up each, wrk loads them alternately,
round after round, and the collector's own count is checked against what wrk saw answered.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
from pathlib import Path
from typing import Any

from bench import report
from bench.load import WrkResult, padded_report, run_wrk
from bench.servers import REPO, counted_reports, start_app, start_collector, stop
from bench.targets import TARGET_P99_RATIO, TARGET_RATIO


def run(args: argparse.Namespace, tmp: Path, wrk: str) -> dict[str, Any]:
    from collector.server import gunicorn_conf

    shared: Path = args.shared
    script = shared / "bench" / "post.lua"
    baseline_app = shared / "bench" / "baseline_app.py"
    for needed in (script, baseline_app):
        if not needed.is_file():
            raise SystemExit(f"missing {needed} (point --shared at the shared directory)")
    if args.report:
        body_file = Path(args.report).resolve()
    else:
        body_file = tmp / "trustkit-ios-3.5k.json"
        body_file.write_bytes(padded_report(shared))
    body = body_file.read_bytes()
    report.report_body(body_file, body)

    token = secrets.token_urlsafe(24)
    collector, cport, clog = start_collector(tmp, args.workers, token, "collector")

    gargs = ["--workers", str(args.workers), "--log-level", "warning"]
    if args.baseline_worker_class == "same":
        gargs += ["--worker-class", str(gunicorn_conf.worker_class),
                  "--threads", str(gunicorn_conf.threads),
                  "--keep-alive", str(gunicorn_conf.keepalive),
                  "--backlog", str(gunicorn_conf.backlog)]
        kind_desc = f"{gunicorn_conf.worker_class}, {gunicorn_conf.threads} threads"
    else:
        gargs += ["--worker-class", "sync"]
        kind_desc = "sync (gunicorn defaults)"
    collector_desc = f"{gunicorn_conf.worker_class}, {gunicorn_conf.threads} threads"

    baseline, bport, blog = start_app(tmp, "baseline", baseline_app, gargs, body)
    ceiling, eport, elog = start_app(tmp, "ceiling", REPO / "bench" / "ceiling_app.py", gargs,
                                     body)
    report.throughput_servers(cport=cport, collector_desc=collector_desc, bport=bport,
                              eport=eport, baseline_desc=kind_desc, workers=args.workers,
                              connections=args.connections)

    targets = {"baseline": f"http://127.0.0.1:{bport}/v1/reports",
               "ceiling": f"http://127.0.0.1:{eport}/v1/reports",
               "collector": f"http://127.0.0.1:{cport}/v1/reports"}
    collector_runs: list[WrkResult] = []

    def load(name: str, seconds: float) -> WrkResult:
        res = run_wrk(wrk, targets[name], seconds=seconds, connections=args.connections,
                      script=script, report=body_file)
        if name == "collector":
            collector_runs.append(res)
        return res

    for name in targets:
        load(name, 2)  # warm-up: imports, first connections, chain caches
    rounds: list[dict[str, Any]] = []
    report.rounds_header()
    for i in range(1, args.rounds + 1):
        b = load("baseline", args.duration)
        e = load("ceiling", args.duration)
        c = load("collector", args.duration)
        row = {"round": i, "baseline": vars(b), "ceiling": vars(e), "collector": vars(c),
               "ratio": c.rps / b.rps, "p99_ratio": c.p99_ms / b.p99_ms,
               "ceiling_ratio": e.rps / b.rps}
        rounds.append(row)
        report.round_row(row, b, c)

    ratio = statistics.median(r["ratio"] for r in rounds)
    ceiling_ratio = statistics.median(r["ceiling_ratio"] for r in rounds)
    p99_ratio = statistics.median(r["p99_ratio"] for r in rounds)
    non2xx = sum(r.non2xx for r in collector_runs)
    answered = sum(r.ok for r in collector_runs)
    sent_max = answered + args.connections * len(collector_runs)
    counted = counted_reports(cport, token, answered)
    count_ok = answered <= counted <= sent_max
    result = {
        "report_bytes": len(body), "workers": args.workers, "connections": args.connections,
        "duration_s": args.duration, "baseline_worker_class": kind_desc,
        "collector_worker_class": collector_desc,
        "rounds": rounds, "median_ratio": ratio, "median_p99_ratio": p99_ratio,
        "median_ceiling_ratio": ceiling_ratio,
        "ratio_met": ratio >= TARGET_RATIO, "p99_met": p99_ratio <= TARGET_P99_RATIO,
        "collector_non2xx": non2xx, "answered_2xx": answered, "counted": counted,
        "count_ok": count_ok,
    }
    report.throughput_summary(result, sent_max=sent_max)
    report.log_errors({"collector": clog, "baseline": blog, "ceiling": elog})
    for proc in (collector, baseline, ceiling):
        stop(proc)
    return result

