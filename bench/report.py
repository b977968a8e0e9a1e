"""Every line the benchmark prints: figures, targets and whether each was met."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from bench.data import APP_VERSIONS
from bench.load import WrkResult
from bench.servers import tail
from bench.targets import (
    TARGET_ALERTS_RATIO,
    TARGET_GROWTH,
    TARGET_P99_RATIO,
    TARGET_PAGE_MS,
    TARGET_QUERY_P99_MS,
)


def _met(ok: bool) -> str:
    return "MET" if ok else "NOT MET"


# -- run.py ------------------------------------------------------------------------------
def part_start(part: str) -> None:
    print(f"\n== {part} ==", flush=True)


def part_end(part: str, seconds: float) -> None:
    print(f"({part}: {seconds:.0f} s)", flush=True)


def json_written(path: Path) -> None:
    print(f"\nfigures written to {path}")


# -- throughput --------------------------------------------------------------------------
def report_body(path: Path, body: bytes) -> None:
    print(f"report body: {path} ({len(body)} bytes)")


def throughput_servers(*, cports: dict[str, int], collector_desc: str, bport: int, eport: int,
                       baseline_desc: str, workers: int, connections: int) -> None:
    mine = ", ".join(f"COLLECTOR_SPOOL_FSYNC={m} :{p}" for m, p in cports.items())
    print(f"collector {mine} ({collector_desc}); baseline :{bport} and parse+validate "
          f"ceiling :{eport} ({baseline_desc}); {workers} workers each, wrk -t1 -c{connections}")


def rounds_header(modes: list[str]) -> None:
    print(f"{'round':>5}  {'baseline req/s':>14} {'p99':>8}  {'ceiling':>7}  "
          + "  ".join(f"{m + ' req/s':>14} {'p99':>8} {'non2xx':>6} {'ratio':>5} {'p99x':>5}"
                      for m in modes)
          + "  cpu µs/req b/e/" + "/".join(m[0] for m in modes))


def round_row(row: dict[str, Any], modes: list[str], b: WrkResult) -> None:
    cells = "  ".join(
        f"{row[m]['rps']:>14.0f} {row[m]['p99_ms']:>6.2f}ms {row[m]['non2xx']:>6} "
        f"{row[m]['ratio']:>5.2f} {row[m]['p99_ratio']:>5.2f}" for m in modes)
    cpu = "/".join(f"{row['cpu_us'][n]:.0f}" for n in ("baseline", "ceiling", *modes))
    errors = {m: row[m]["socket_errors"] for m in modes if row[m]["socket_errors"]}
    print(f"{row['round']:>5}  {b.rps:>14.0f} {b.p99_ms:>6.2f}ms  {row['ceiling_ratio']:>7.2f}  "
          f"{cells}  {cpu}"
          + (f"  (baseline non2xx {b.non2xx})" if b.non2xx else "")
          + (f"  (socket errors b={b.socket_errors} {errors})"
             if b.socket_errors or errors else ""), flush=True)


def throughput_summary(result: dict[str, Any]) -> None:
    print(f"median ceiling ratio {result['median_ceiling_ratio']:.3f}: the baseline plus only "
          "the collector's JSON parsing and validation (bench/ceiling_app.py), nothing stored")
    cpu = result["median_cpu_us"]
    print("median CPU per request (server process group, incl. the collector's Redis), µs: "
          + ", ".join(f"{name} {us:.0f}" for name, us in cpu.items()))
    for mode in result["modes"]:
        r = result[mode]
        print(f"COLLECTOR_SPOOL_FSYNC={mode}: median throughput ratio {r['median_ratio']:.3f} "
              f"(target >= {r['ratio_target']}): {_met(r['ratio_met'])}; median p99 ratio "
              f"{r['median_p99_ratio']:.2f} (target <= {TARGET_P99_RATIO}): "
              f"{_met(r['p99_met'])}")
        print(f"  non-2xx responses: {r['non2xx']}"
              + ("" if r["non2xx"] == 0 else "  <-- every report should be answered 2xx")
              + f"; answered 2xx (wrk, incl. warm-up): {r['answered_2xx']}; counted by "
              f"/v1/summary: {r['counted']}; allowed range [{r['answered_2xx']}, "
              f"{r['sent_max']}] (in-flight at wrk stop): "
              f"{'OK' if r['count_ok'] else 'MISMATCH'}")
    low, high = result["loadavg_1m"]
    print(f"1-minute load average {low:.1f}..{high:.1f} during the rounds, {result['cpus']} CPUs "
          "(other work on the machine makes req/s noisy: compare rounds, not runs)")


def log_errors(logs: dict[str, Path]) -> None:
    """The last lines of every server log that shows an error."""
    for name, log in logs.items():
        text = log.read_text("utf-8", "replace")
        if re.search(r"Traceback|\[ERROR\]|CRITICAL", text):
            print(f"note: {name} log has errors; last lines:\n{tail(log, 15)}")


# -- memory ------------------------------------------------------------------------------
def memory(result: dict[str, Any], *, build_s: float) -> None:
    n, n2 = result["reports"]
    hosts, totals = result["hosts"], result["counted"]
    empty = result["used_memory_empty"]
    first, second = result["used_memory"]
    per_host = result["bytes_per_host"]
    mib = 2**20
    print(f"reports: {n} then {n2} over {hosts} hosts x {result['chains']} chains, "
          f"{result['devices']} devices, {len(APP_VERSIONS)} app versions; counted {totals}; "
          f"{result['keys']} keys")
    print(f"used_memory: empty {empty / mib:.2f} MiB; after {n}: {first / mib:.2f} MiB; "
          f"after {n2}: {second / mib:.2f} MiB")
    print(f"growth {result['growth'] * 100:.1f} % (target <= {TARGET_GROWTH * 100:.0f} %): "
          f"{_met(result['growth_met'])}")
    print(f"per host: {per_host[0] / 1024:.1f} KiB after {n}, "
          f"{per_host[1] / 1024:.1f} KiB after {n2} (net of empty Redis)")
    print(f"write speed: {result['write_reports_per_s']:.0f} reports/s through "
          f"ReportStore.write (batches of 500; building the reports took {build_s:.1f} s)")
    if totals != n2:
        print(f"note: counted {totals} != written {n2}")
    print(f"{'key shape (MEMORY USAGE)':<34} {'keys':>5} {'after ' + str(n):>13} "
          f"{'after ' + str(n2):>13}")
    shapes = result["by_key_shape"]
    top = sorted(shapes, key=lambda k: -shapes[k]["bytes"][1])
    for kind in top[:12]:
        before, after = shapes[kind]["bytes"]
        print(f"{kind:<34} {shapes[kind]['keys']:>5} {before / 1024:>10.0f} KiB "
              f"{after / 1024:>9.0f} KiB")


# -- queries -----------------------------------------------------------------------------
def queries(result: dict[str, Any], *, workers: int) -> None:
    print(f"{result['hosts']} hosts aggregated ({result['reports']} reports); "
          f"{result['requests']} sequential keep-alive requests each, {workers} workers")
    for name, p in (("GET /v1/summary", result["summary"]),
                    ("GET /v1/hosts/<h>", result["host"])):
        ok = p["p99_ms"] <= TARGET_QUERY_P99_MS
        print(f"{name:<18} p50 {p['p50_ms']:.2f} ms  p99 {p['p99_ms']:.2f} ms  "
              f"max {p['max_ms']:.2f} ms  (target p99 <= {TARGET_QUERY_P99_MS:.0f} ms): "
              f"{_met(ok)}")



# -- dashboard ---------------------------------------------------------------------------
def dashboard(result: dict[str, Any], *, workers: int) -> None:
    print(f"{result['hosts']} hosts aggregated ({result['reports']} reports); "
          f"{result['requests']} sequential keep-alive page requests each, one signed-in "
          f"session, {workers} workers; server time = Server-Timing app;dur")
    for name, f in result["pages"].items():
        srv, wall = f["server"], f["wall"]
        ok = srv["p99_ms"] <= TARGET_PAGE_MS
        print(f"{name:<26} server p50 {srv['p50_ms']:6.2f} ms  p99 {srv['p99_ms']:6.2f} ms  "
              f"(wall p50 {wall['p50_ms']:6.2f} p99 {wall['p99_ms']:6.2f})  "
              f"target p99 <= {TARGET_PAGE_MS:.0f} ms: {_met(ok)}")


# -- alerts ------------------------------------------------------------------------------
def alerts_setup(*, workers: int, connections: int, new_every: int, hook: int,
                 slack: int) -> None:
    every = "every request" if new_every == 1 else f"every {new_every} requests"
    print(f"a fresh collector per run, {workers} workers, wrk -t1 -c{connections}, a new "
          f"hostname {every} (bench/new_hosts.lua); (a) COLLECTOR_ALERT_RULES=none, (b) all "
          f"rules, webhook -> :{hook} and Slack -> :{slack} (both accept and never answer)")


def alerts_header() -> None:
    print(f"{'round':>8}  {'off req/s':>9} {'p99':>8}  {'on req/s':>9} {'p99':>8} "
          f"{'non2xx':>6}  {'ratio':>5}  {'cpu ms off':>10} {'on':>5}  {'fired':>6} "
          f"{'pending':>7} {'deliv.':>6} {'conns':>5}")


def alerts_row(row: dict[str, Any], a: WrkResult, b: WrkResult) -> None:
    on = row["on"]
    order = "(a,b)" if row["order"].startswith("off") else "(b,a)"
    print(f"{row['round']:>2} {order}  {a.rps:>9.0f} {a.p99_ms:>6.2f}ms  {b.rps:>9.0f} "
          f"{b.p99_ms:>6.2f}ms {a.non2xx + b.non2xx:>6}  {row['ratio']:>5.3f}  "
          f"{row['off']['cpu_ms_per_report']:>10.2f} {on['cpu_ms_per_report']:>5.2f}  "
          f"{on['fired']:>6} {on['pending']:>7} {on['delivered']:>6} "
          f"{on['receiver_connections']:>5}"
          + (f"  (socket errors off={a.socket_errors} on={b.socket_errors})"
             if a.socket_errors or b.socket_errors else ""), flush=True)


def alerts_summary(result: dict[str, Any]) -> None:
    ratio = result["median_ratio"]
    print("(a,b): alerts off ran first; cpu ms: the collector's CPU (master, workers, "
          "Redis) per report; fired: alerts fired in (b)'s measured run (outbox "
          "entries / 2 destinations); pending: outbox entries unacknowledged at its end; "
          "deliv.: accepted by a receiver; conns: connections the hung receivers took "
          "during it (one per attempt)")
    print(f"median throughput ratio alerts on / off {ratio:.3f} "
          f"(target >= {TARGET_ALERTS_RATIO}): {_met(result['ratio_met'])}; "
          f"median p99 ratio {result['median_p99_ratio']:.2f}; median CPU per report "
          f"ratio {result['median_cpu_ratio']:.3f}")
    share = result["fired"] / result["answered_2xx"] if result["answered_2xx"] else 0.0
    print(f"alerts fired during (b)'s measured runs: {result['fired']} for "
          f"{result['answered_2xx']} reports answered 2xx ({share:.2f} per report); "
          f"delivered: {result['delivered']}")
    print("every report counted by /v1/summary (within the in-flight margin): "
          + ("OK" if result["count_ok"] else "MISMATCH"))
    before, after = result["loadavg_1m"]
    print(f"1-minute load average {before:.1f} before, {after:.1f} after, {os.cpu_count()} "
          "CPUs (a busy machine makes req/s noisy; the CPU per report less so)")
