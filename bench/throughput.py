"""Part 1: the collector in each durability mode vs. the bare baseline endpoint vs. the
parse+validate ceiling, under wrk.

All run under gunicorn with the same workers (and, by default, the collector's worker class,
threads, keep-alive and backlog): one collector per ``COLLECTOR_SPOOL_FSYNC`` mode asked for
(``--modes``, default both). After a warm-up each, wrk loads them alternately, round after
round (baseline, ceiling, then each collector; the order of the collectors is swapped every
other round), and each collector's own count is checked against what wrk saw answered.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
from pathlib import Path
from typing import Any

from bench import report
from bench.load import WrkResult, padded_report, run_wrk
from bench.servers import (
    REPO,
    counted_reports,
    group_cpu_seconds,
    start_app,
    start_collector,
    stop,
)
from bench.targets import TARGET_P99_RATIO, TARGET_RATIOS

MODES = ("interval", "always")


def run(args: argparse.Namespace, tmp: Path, wrk: str) -> dict[str, Any]:
    from collector.server import gunicorn_conf

    shared: Path = args.shared
    script = shared / "bench" / "post.lua"
    baseline_app = shared / "bench" / "baseline_app.py"
    for needed in (script, baseline_app):
        if not needed.is_file():
            raise SystemExit(f"missing {needed} (point --shared at the shared directory)")
    modes = [m for m in getattr(args, "modes", ",".join(MODES)).split(",") if m]
    if not modes or any(m not in MODES for m in modes):
        raise SystemExit(f"--modes takes a comma-separated subset of {','.join(MODES)}")
    if args.report:
        body_file = Path(args.report).resolve()
    else:
        body_file = tmp / "trustkit-ios-3.5k.json"
        body_file.write_bytes(padded_report(shared))
    body = body_file.read_bytes()
    report.report_body(body_file, body)

    token = secrets.token_urlsafe(24)
    collectors = {m: start_collector(tmp, args.workers, token, f"collector-{m}",
                                     settings={"COLLECTOR_SPOOL_FSYNC": m}) for m in modes}

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
    report.throughput_servers(cports={m: c[1] for m, c in collectors.items()},
                              collector_desc=collector_desc, bport=bport, eport=eport,
                              baseline_desc=kind_desc, workers=args.workers,
                              connections=args.connections)

    procs = {"baseline": baseline, "ceiling": ceiling,
             **{m: c[0] for m, c in collectors.items()}}
    targets = {"baseline": f"http://127.0.0.1:{bport}/v1/reports",
               "ceiling": f"http://127.0.0.1:{eport}/v1/reports",
               **{m: f"http://127.0.0.1:{c[1]}/v1/reports" for m, c in collectors.items()}}
    runs: dict[str, list[WrkResult]] = {m: [] for m in modes}

    def load(name: str, seconds: float) -> tuple[WrkResult, float]:
        """wrk against one server; also the CPU its process group (gunicorn, workers, and
        for a collector its redis-server) spent per request meanwhile, in µs."""
        cpu = group_cpu_seconds(procs[name].pid)
        res = run_wrk(wrk, targets[name], seconds=seconds, connections=args.connections,
                      script=script, report=body_file)
        cpu = group_cpu_seconds(procs[name].pid) - cpu
        if name in runs:
            runs[name].append(res)
        return res, cpu * 1e6 / max(1, res.requests)

    for name in targets:
        load(name, 2)  # warm-up: imports, first connections, chain caches
    rounds: list[dict[str, Any]] = []
    loads = [os.getloadavg()[0]]
    report.rounds_header(modes)
    for i in range(1, args.rounds + 1):
        b, b_cpu = load("baseline", args.duration)
        e, e_cpu = load("ceiling", args.duration)
        row: dict[str, Any] = {"round": i, "baseline": vars(b), "ceiling": vars(e),
                               "ceiling_ratio": e.rps / b.rps,
                               "cpu_us": {"baseline": b_cpu, "ceiling": e_cpu}}
        for mode in (modes if i % 2 else modes[::-1]):
            c, c_cpu = load(mode, args.duration)
            row[mode] = {**vars(c), "ratio": c.rps / b.rps, "p99_ratio": c.p99_ms / b.p99_ms}
            row["cpu_us"][mode] = c_cpu
        loads.append(os.getloadavg()[0])
        rounds.append(row)
        report.round_row(row, modes, b)

    result: dict[str, Any] = {
        "report_bytes": len(body), "workers": args.workers, "connections": args.connections,
        "duration_s": args.duration, "baseline_worker_class": kind_desc,
        "collector_worker_class": collector_desc, "rounds": rounds, "modes": modes,
        "median_ceiling_ratio": statistics.median(r["ceiling_ratio"] for r in rounds),
        "loadavg_1m": [min(loads), max(loads)], "cpus": os.cpu_count(),
        "median_cpu_us": {name: statistics.median(r["cpu_us"][name] for r in rounds)
                          for name in targets},
    }
    for mode in modes:
        ratio = statistics.median(r[mode]["ratio"] for r in rounds)
        p99_ratio = statistics.median(r[mode]["p99_ratio"] for r in rounds)
        answered = sum(r.ok for r in runs[mode])
        sent_max = answered + args.connections * len(runs[mode])
        counted = counted_reports(collectors[mode][1], token, answered)
        result[mode] = {
            "median_ratio": ratio, "median_p99_ratio": p99_ratio,
            "ratio_target": TARGET_RATIOS[mode], "ratio_met": ratio >= TARGET_RATIOS[mode],
            "p99_met": p99_ratio <= TARGET_P99_RATIO,
            "non2xx": sum(r.non2xx for r in runs[mode]), "answered_2xx": answered,
            "counted": counted, "sent_max": sent_max,
            "count_ok": answered <= counted <= sent_max,
        }
    # The figures of the default mode also where earlier versions of this file put them.
    first = result[modes[0]]
    result.update(median_ratio=first["median_ratio"], median_p99_ratio=first["median_p99_ratio"],
                  ratio_met=first["ratio_met"], p99_met=first["p99_met"],
                  count_ok=all(result[m]["count_ok"] for m in modes))
    report.throughput_summary(result)
    report.log_errors({"baseline": blog, "ceiling": elog,
                       **{f"collector ({m})": c[2] for m, c in collectors.items()}})
    for proc in procs.values():
        stop(proc)
    return result

