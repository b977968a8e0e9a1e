"""Part ``redis``: Redis CPU per report (SPEC §7), from ``INFO commandstats``.

Two loads, written through the real ``ReportStore`` into a private redis-server (no AOF), in
batches of ``--batch`` (default 1 000: about what one worker's writer gathers in its 1 s
linger at full speed on the project's machine; the collector rows below measure it), the
storm also in batches of 100 (a 200 ms linger's batch at a few hundred reports/s):

storm    one host, three chains (one of them public-trust for the host, its clients half
         enforcing, half report-only: every failing-device path runs), 100 k devices
diverse  1 000 hosts x 10 chains, 50 k devices

Each load first writes a warm-up share (keys exist, HyperLogLogs are dense: the steady
state), then ``CONFIG RESETSTAT`` and the measured reports. Figures per report: the
``usec`` of EVALSHA/EVAL (which includes every command the scripts call) plus any command
the writer sends itself, the script-called commands by name (where the time goes), and the
Redis process's CPU from ``INFO cpu`` (adds reading and parsing the requests and the
replies: the figure that bounds how many reports one primary absorbs).

Then:

cluster  the diverse load on a local 3-primary Redis Cluster (``tests/rediscluster.py``):
         each primary's write CPU (commandstats, scripts and commands the writer sends),
         busiest / mean (target <= 1.5)
parallel ``--processes`` writer processes (default 4) against one redis-server, each with
         its own writer id and its own storm reports, all at once: reports/s, Redis CPU
         busy share, and reports/s at 100 % of one Redis core (reports/s / busy share)
floor    the distinct counters one diverse report moves and the cheapest Redis CPU per
         counter update (bench/redis_floor.py): the floor under the diverse figure
collector both loads through ``pin-collector serve`` and wrk, at the batches its writers
         really form (bench/redis_e2e.py)

With ``--callgrind`` (needs valgrind) each load is also written to a redis-server running
under callgrind, instrumented only while the measured reports are written: instructions
Redis executes per report, a figure that does not move with how busy the machine is (µs
do, a lot, on a shared 2-core machine).
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing
import os
import random
import time
from pathlib import Path
from typing import Any

from bench.data import APP_VERSIONS, ReportMaker, make_chains
from bench.targets import TARGET_BALANCE, TARGET_DIVERSE_US, TARGET_STORM_US

# Commands the writer itself sends (everything else in commandstats was called by a script,
# or by the bench: INFO, CONFIG, PING...).
WRITER_COMMANDS = ("evalsha", "eval", "hdel", "lrem")


@dataclasses.dataclass(frozen=True)
class Load:
    name: str
    hosts: int
    chains: int
    devices: int
    public_chains: int  # this many chains are public-trust for their hosts (risk paths)


STORM = Load("storm", 1, 3, 100_000, 1)
DIVERSE = Load("diverse", 1_000, 10, 50_000, 0)


def build(shared: Path, chains: list[list[str]], load: Load, n: int, seed: int) -> list[Any]:
    """n reports of ``load``: one report per (chain, app version) built as the ingest path
    does, then varied by host, device and enforcement (cheap, so 100 k take seconds)."""
    maker = ReportMaker(shared, chains[:load.chains], devices=1, seed=seed)
    rng = random.Random(seed)
    hosts = ["api.example.com"] if load.hosts == 1 else \
        [f"h{i}.svc{i % 37}.example.com" for i in range(load.hosts)]
    templates = []
    for c in range(load.chains):
        base = maker.make(hosts[0], c)
        for v in APP_VERSIONS:
            r = dataclasses.replace(base, app_version=v)
            if c < load.public_chains:
                r = dataclasses.replace(r, classification="public-trust", label="Bench")
            templates.append(r)
    devices = [f"{rng.getrandbits(128):032x}" for _ in range(load.devices)]
    now = int(time.time() * 1000)
    out = []
    for i in range(n):
        t = templates[rng.randrange(len(templates))]
        changes: dict[str, Any] = {"device": devices[rng.randrange(len(devices))],
                                   "received_ms": now + i // 50}
        if load.hosts > 1:
            changes["hostname"] = hosts[rng.randrange(len(hosts))]
        if t.classification == "public-trust":
            changes["enforce"] = rng.random() < 0.5
        out.append(dataclasses.replace(t, **changes))
    return out


class Writer:
    """ReportStore.write in batches, one writer id and sequence."""

    def __init__(self, url: str, writer: str) -> None:
        from collector.aggregates.connection import connect
        from collector.aggregates.keys import Keys
        from collector.aggregates.writer import ReportStore
        from collector.config import Settings

        defaults = Settings()
        self.client = connect(url, 30.0)
        self.store = ReportStore(self.client, Keys(defaults.key_prefix),
                                 retention_s=defaults.retention_seconds,
                                 host_cap=defaults.host_cap)
        self.writer = writer
        self.seq = 0

    def batches(self, reports: list[Any], batch: int) -> list[list[Any]]:
        from collector.aggregates.writer import Stamped

        out = []
        for i in range(0, len(reports), batch):
            items = []
            for r in reports[i:i + batch]:
                self.seq += 1
                items.append(Stamped(r, self.writer, self.seq))
            out.append(items)
        return out

    def write(self, batches: list[list[Any]]) -> tuple[float, float]:
        """Wall and CPU seconds (this process: Python and the socket calls) of the writes."""
        t, c = time.perf_counter(), time.process_time()
        for items in batches:
            self.store.write(items)
        return time.perf_counter() - t, time.process_time() - c


def _stats(node: Any) -> tuple[dict[str, dict[str, float]], float]:
    """commandstats by command name, and the process's CPU seconds so far."""
    raw = node.info("commandstats")
    cpu = node.info("cpu")
    stats = {k.removeprefix("cmdstat_"): v for k, v in raw.items()}
    used = float(cpu.get("used_cpu_sys_main_thread", cpu["used_cpu_sys"])) + \
        float(cpu.get("used_cpu_user_main_thread", cpu["used_cpu_user"]))
    return stats, used


def _figures(stats: dict[str, dict[str, float]], cpu_s: float, n: int) -> dict[str, Any]:
    writes = sum(stats[c]["usec"] for c in WRITER_COMMANDS if c in stats)
    scripted = {c: v for c, v in stats.items()
                if c not in WRITER_COMMANDS and c not in ("info", "config", "ping", "cluster",
                                                          "command", "script")}
    return {
        "us_per_report": writes / n,
        "process_us_per_report": cpu_s * 1e6 / n,
        "script_calls_per_report": sum(v["calls"] for v in scripted.values()) / n,
        "scripts_per_report": sum(stats[c]["calls"] for c in ("evalsha", "eval")
                                  if c in stats) / n,
        "by_command": {c: {"us_per_report": v["usec"] / n, "calls_per_report": v["calls"] / n}
                       for c, v in sorted(scripted.items(), key=lambda p: -p[1]["usec"])},
    }


def measure(url: str, reports: list[Any], warm: int, batch: int, nodes: list[Any]) \
        -> dict[str, Any]:
    """Warm up with ``reports[:warm]``, then the rest measured (per node of ``nodes``)."""
    w = Writer(url, f"bench-{os.getpid()}")
    w.write(w.batches(reports[:warm], batch))
    measured = w.batches(reports[warm:], batch)
    for node in nodes:
        node.config_resetstat()
    before = [_stats(node)[1] for node in nodes]
    wall, cpu = w.write(measured)
    after = [_stats(node) for node in nodes]
    n = len(reports) - warm
    per_node = [_figures(st, cpu - b, n) for (st, cpu), b in zip(after, before, strict=True)]
    w.client.close()
    total = {k: sum(p[k] for p in per_node)
             for k in ("us_per_report", "process_us_per_report", "script_calls_per_report",
                       "scripts_per_report")}
    merged: dict[str, dict[str, float]] = {}
    for p in per_node:
        for c, v in p["by_command"].items():
            m = merged.setdefault(c, {"us_per_report": 0.0, "calls_per_report": 0.0})
            m["us_per_report"] += v["us_per_report"]
            m["calls_per_report"] += v["calls_per_report"]
    return {**total, "reports": n, "batch": batch, "writer_s": wall,
            "writer_us_per_report": wall * 1e6 / n, "writer_cpu_us_per_report": cpu * 1e6 / n,
            "by_command": merged,
            "per_node_us": [p["us_per_report"] for p in per_node]}


def _child(url: str, shared: Path, chains: list[list[str]], n: int, batch: int, seed: int,
           start: Any, out: Any) -> None:
    reports = build(shared, chains, STORM, n, seed)
    w = Writer(url, f"bench-par-{seed}")
    batches = w.batches(reports, batch)
    start.wait()
    wall, _ = w.write(batches)
    out.put((wall, n))


def parallel(url: str, node: Any, shared: Path, chains: list[list[str]], processes: int,
             n: int, batch: int) -> dict[str, Any]:
    """``processes`` writers at once against one Redis; its CPU busy share over the run."""
    ctx = multiprocessing.get_context("fork")
    start = ctx.Barrier(processes + 1)
    out = ctx.Queue()
    procs = [ctx.Process(target=_child, args=(url, shared, chains, n, batch, 1000 + i, start,
                                              out))
             for i in range(processes)]
    for p in procs:
        p.start()
    try:
        start.wait(timeout=600)
        _, cpu0 = _stats(node)
        t0 = time.perf_counter()
        done = [out.get(timeout=600) for _ in procs]
        wall = time.perf_counter() - t0
        _, cpu1 = _stats(node)
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
    total = sum(k for _, k in done)
    busy = (cpu1 - cpu0) / wall
    rate = total / wall
    return {"processes": processes, "reports": total, "wall_s": wall, "reports_per_s": rate,
            "redis_busy": busy, "redis_us_per_report": (cpu1 - cpu0) * 1e6 / total,
            "reports_per_s_at_one_core": rate / busy if busy else 0.0,
            "loadavg": os.getloadavg()}


def instructions(tmp: Path, name: str, reports: list[Any], warm: int, batch: int) -> float:
    """Instructions the redis-server executes per measured report (valgrind callgrind)."""
    import glob
    import subprocess

    from collector.server.embedded import redis_binary

    d = tmp / f"callgrind-{name}"
    d.mkdir(parents=True, exist_ok=True)
    sock = d / "redis.sock"
    proc = subprocess.Popen(
        ["valgrind", "--tool=callgrind", "--instr-atstart=no",
         f"--callgrind-out-file={d}/cg.out", redis_binary(), "--port", "0", "--unixsocket",
         str(sock), "--save", "", "--appendonly", "no", "--hll-sparse-max-bytes", "1000",
         "--dir", str(d)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not sock.exists():
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("redis-server under valgrind did not start")
            time.sleep(0.1)
        w = Writer(f"unix://{sock}", f"bench-cg-{os.getpid()}")
        w.write(w.batches(reports[:warm], batch))
        measured = w.batches(reports[warm:], batch)
        control = ["callgrind_control"]
        subprocess.run([*control, "-i", "on", str(proc.pid)], check=True, capture_output=True)
        w.write(measured)
        subprocess.run([*control, "-i", "off", str(proc.pid)], check=True, capture_output=True)
        subprocess.run([*control, "-d", str(proc.pid)], check=True, capture_output=True)
        w.client.close()
    finally:
        proc.terminate()
        proc.wait(60)
    total = 0
    for path in glob.glob(f"{d}/cg.out*"):
        with open(path) as f:
            for line in f:
                if line.startswith(("summary:", "totals:")):
                    total = max(total, int(line.split()[1]))
    return total / (len(reports) - warm)


def cluster_balance(tmp: Path, reports: list[Any], warm: int, batch: int) -> dict[str, Any]:
    import redis

    from tests.rediscluster import local_cluster

    with local_cluster(tmp / "cluster") as ports:
        nodes = [redis.Redis(port=p, socket_timeout=30) for p in ports]
        try:
            res = measure(f"redis+cluster://127.0.0.1:{ports[0]}", reports, warm, batch, nodes)
        finally:
            for node in nodes:
                node.close()
    per = res["per_node_us"]
    mean = sum(per) / len(per)
    res["busiest_over_mean"] = max(per) / mean if mean else 0.0
    return res


def run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    import redis

    from collector.server.embedded import RedisServer

    quick = args.quick
    n_storm, n_diverse = (20_000, 20_000) if quick else (60_000, 60_000)
    warm = n_storm // 3
    chains = make_chains(10)
    t = time.perf_counter()
    storm = build(args.shared, chains, STORM, n_storm, seed=11)
    diverse = build(args.shared, chains, DIVERSE, n_diverse, seed=12)
    built = time.perf_counter() - t
    result: dict[str, Any] = {"batch": args.batch, "build_s": built,
                              "loadavg_before": os.getloadavg()}
    for name, load, reports, batch in (("storm", STORM, storm, args.batch),
                                       ("storm_100", STORM, storm, 100),
                                       ("diverse", DIVERSE, diverse, args.batch)):
        server = RedisServer(tmp / f"redis-cpu-{name}", appendonly=False).start()
        node = redis.Redis.from_url(server.url)
        try:
            result[name] = measure(server.url, reports, warm, batch, [node])
        finally:
            node.close()
            server.stop()
        _print_load(name, load, result[name])
    if args.callgrind:
        n_cg = 3_000 if quick else 6_000  # callgrind runs Redis ~50 times slower
        result["instructions"] = {
            name: instructions(tmp, name, reports[:n], n // 3, batch)
            for name, reports, batch, n in (("storm", storm, args.batch, 2 * n_cg),
                                            ("storm_100", storm, 100, 2 * n_cg),
                                            ("diverse", diverse, args.batch, n_cg))}
        print("instructions Redis executes per report (callgrind): " + ", ".join(
            f"{k} {v:,.0f}" for k, v in result["instructions"].items()))
    result["cluster"] = cluster_balance(tmp, diverse, warm, args.batch)
    _print_cluster(result["cluster"])
    server = RedisServer(tmp / "redis-cpu-parallel", appendonly=False).start()
    node = redis.Redis.from_url(server.url)
    try:
        per = (8_000 if quick else 20_000)
        result["parallel"] = parallel(server.url, node, args.shared, chains, args.processes,
                                      per, args.batch)
    finally:
        node.close()
        server.stop()
    _print_parallel(result["parallel"], result["storm"])
    from bench.redis_floor import counter_cost, counters_per_report  # it uses this module

    server = RedisServer(tmp / "redis-cpu-floor", appendonly=False).start()
    node = redis.Redis.from_url(server.url)
    try:
        result["floor"] = {"counters": counters_per_report(server.url, node, diverse),
                           **counter_cost(node)}
    finally:
        node.close()
        server.stop()
    _print_floor(result["floor"], result["diverse"])
    result["loadavg_after"] = os.getloadavg()
    print(f"1-minute load average {result['loadavg_before'][0]:.1f} before, "
          f"{result['loadavg_after'][0]:.1f} after, {os.cpu_count()} CPUs (commandstats µs "
          "per report hardly depend on it; reports/s do)")
    return result


def _met(ok: bool) -> str:
    return "MET" if ok else "NOT MET"


def _print_load(name: str, load: Load, r: dict[str, Any]) -> None:
    target = TARGET_STORM_US if load is STORM else TARGET_DIVERSE_US
    print(f"{name}: {load.hosts} host(s) x {load.chains} chains, {load.devices} devices; "
          f"{r['reports']} reports measured in batches of {r['batch']}")
    print(f"  Redis µs per report (commandstats: scripts incl. their calls) "
          f"{r['us_per_report']:.2f} (target <= {target:.0f}): "
          f"{_met(r['us_per_report'] <= target)}")
    print(f"  Redis process CPU per report {r['process_us_per_report']:.2f} µs "
          f"(=> {1e6 / r['process_us_per_report']:,.0f} reports/s per primary core); "
          f"{r['scripts_per_report']:.3f} scripts and {r['script_calls_per_report']:.1f} "
          f"script calls per report; writer CPU (Python) {r['writer_cpu_us_per_report']:.1f} µs "
          f"per report, wall {r['writer_us_per_report']:.1f} µs incl. waiting for Redis")
    top = list(r["by_command"].items())[:8]
    print("  script calls by command (µs, calls per report): " + ", ".join(
        f"{c} {v['us_per_report']:.2f}/{v['calls_per_report']:.2f}" for c, v in top))


def _print_cluster(r: dict[str, Any]) -> None:
    per = ", ".join(f"{u:.2f}" for u in r["per_node_us"])
    print(f"cluster (3 primaries, diverse load): write µs per report by primary {per}; "
          f"busiest / mean {r['busiest_over_mean']:.2f} (target <= {TARGET_BALANCE}): "
          f"{_met(r['busiest_over_mean'] <= TARGET_BALANCE)}; total {r['us_per_report']:.2f} "
          f"µs per report")


def _print_parallel(r: dict[str, Any], storm: dict[str, Any]) -> None:
    print(f"parallel: {r['processes']} writer processes, storm load, {r['reports']} reports "
          f"in {r['wall_s']:.1f} s = {r['reports_per_s']:,.0f} reports/s; Redis busy "
          f"{r['redis_busy'] * 100:.0f} % of one core ({r['redis_us_per_report']:.2f} µs per "
          f"report) => one primary absorbs ~{r['reports_per_s_at_one_core']:,.0f} reports/s "
          f"(from the single-writer figure: {1e6 / storm['process_us_per_report']:,.0f})")


def _print_floor(f: dict[str, Any], diverse: dict[str, Any]) -> None:
    per = f["cheapest_process_us"]
    shapes = "; ".join(
        f"{name}: HINCRBY {c['hincrby_process_us']:.2f} ({c['hincrby_command_us']:.2f} in the "
        f"command), 20 at a time {c['rmw_process_us']:.2f} ({c['rmw_command_us']:.2f})"
        for name, c in f["by_shape"].items())
    print(f"floor: one diverse report changes {f['counters']:.1f} distinct counters (hash "
          f"fields, members, HyperLogLogs); Redis µs per counter update with no script, "
          f"{shapes} => no design keeping those counters goes under "
          f"~{f['counters'] * per:.0f} µs per report (measured "
          f"{diverse['process_us_per_report']:.0f}); {TARGET_DIVERSE_US:.0f} µs affords "
          f"{TARGET_DIVERSE_US / per:.1f} counters")
