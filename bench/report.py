"""Every line the benchmark prints: figures, targets and whether each was met."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from bench.data import APP_VERSIONS
from bench.load import WrkResult
from bench.servers import tail
from bench.targets import TARGET_GROWTH, TARGET_P99_RATIO, TARGET_QUERY_P99_MS, TARGET_RATIO


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


def throughput_servers(*, cport: int, collector_desc: str, bport: int, eport: int,
                       baseline_desc: str, workers: int, connections: int) -> None:
    print(f"collector :{cport} ({collector_desc}); baseline :{bport} and parse+validate "
          f"ceiling :{eport} ({baseline_desc}); {workers} workers each, wrk -t1 -c{connections}")


def rounds_header() -> None:
    print(f"{'round':>5}  {'baseline req/s':>14} {'p99':>8}  {'ceiling':>7}  "
          f"{'collector req/s':>15} {'p99':>8} {'non2xx':>6}  {'ratio':>5} {'p99x':>5}")


def round_row(row: dict[str, Any], b: WrkResult, c: WrkResult) -> None:
    print(f"{row['round']:>5}  {b.rps:>14.0f} {b.p99_ms:>6.2f}ms  {row['ceiling_ratio']:>7.2f}  "
          f"{c.rps:>15.0f} {c.p99_ms:>6.2f}ms {c.non2xx:>6}  {row['ratio']:>5.2f} "
          f"{row['p99_ratio']:>5.2f}"
          + (f"  (baseline non2xx {b.non2xx})" if b.non2xx else "")
          + (f"  (socket errors b={b.socket_errors} c={c.socket_errors})"
             if b.socket_errors or c.socket_errors else ""))


def throughput_summary(result: dict[str, Any], *, sent_max: int) -> None:
    ratio, p99_ratio = result["median_ratio"], result["median_p99_ratio"]
    non2xx, answered, counted = (result["collector_non2xx"], result["answered_2xx"],
                                 result["counted"])
    print(f"median throughput ratio {ratio:.3f} (target >= {TARGET_RATIO}): "
          f"{_met(result['ratio_met'])}")
    print(f"median ceiling ratio {result['median_ceiling_ratio']:.3f}: the baseline plus only "
          "the collector's JSON parsing and validation (bench/ceiling_app.py), nothing stored")
    print(f"median p99 ratio {p99_ratio:.2f} (target <= {TARGET_P99_RATIO}): "
          f"{_met(result['p99_met'])}")
    print(f"collector non-2xx responses: {non2xx}"
          + ("" if non2xx == 0 else "  <-- every report should be answered 2xx"))
    print(f"collector answered 2xx (wrk, incl. warm-up): {answered}; counted by /v1/summary: "
          f"{counted}; allowed range [{answered}, {sent_max}] (in-flight at wrk stop): "
          f"{'OK' if result['count_ok'] else 'MISMATCH'}")


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
