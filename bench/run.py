"""Benchmarks for the SPEC §7 targets: ingest throughput, Redis memory, query latency.

Usage (from the repository root; `make bench BENCH_ARGS="..."` runs the same):

    .venv/bin/python bench/run.py                 # everything, full size (~3 minutes)
    .venv/bin/python bench/run.py --quick         # smoke run (~1 minute)
    .venv/bin/python bench/run.py --only throughput --rounds 5 --duration 15
    .venv/bin/python bench/run.py --json bench-results.json

Parts (``--only`` picks one):

throughput
    Starts ``pin-collector serve`` (embedded Redis, temporary data dir) and
    ``../shared/bench/baseline_app.py`` under gunicorn with the same worker count, worker
    class and threads as ``collector/gunicorn_conf.py`` (``--baseline-worker-class sync``
    compares against gunicorn's defaults instead), and ``bench/ceiling_app.py`` (the
    baseline plus the collector's JSON parsing and validation, nothing stored: a bound on
    any validating collector) the same way. After a 2 s warm-up of each, loads the three
    alternately, ``--rounds`` times, with ``wrk -t1 -c C --latency -s post.lua`` POSTing one
    3-4 KB TrustKit iOS report (the shared example padded with a longer bundle id and backup
    pins; ``--report`` uses another file). Prints requests/s, p99 and non-2xx per run, the
    median collector/baseline throughput ratio (target >= 0.9), the ceiling's ratio, and
    the p99 ratio (target <= 2),
    then checks with ``GET /v1/summary`` that the collector counted at least every report wrk
    saw answered 2xx (wrk drops up to C in-flight requests per run when it stops, which the
    server may still count, so "counted" may exceed "answered" by at most C per run).
memory
    A private redis-server (no AOF); 100 k reports over 100 hosts x 10 chains (EC P-256
    CA + leaf each), 50 k devices (``--devices``), 4 app versions, written with
    ReportStore.write in batches of 500; INFO used_memory after 100 k and after 200 k
    (target growth <= 10 %), and MEMORY USAGE summed per key shape at both points.
queries
    10 k hosts aggregated (>= 1 report each) in a private redis-server, the collector
    served against it (REDIS_URL), then sequential keep-alive requests of
    ``GET /v1/summary`` and ``GET /v1/hosts/<random host>``: p50/p99 (target p99 <= 10 ms).

``--quick`` shrinks everything: 2 rounds x 3 s, 20 k + 20 k reports, 2 k hosts.

Everything listens on loopback only; every child runs in its own process group and is
killed on exit. wrk comes from Debian (``apt-get install wrk``); without it this exits 2.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import hashlib
import http.client
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

TARGET_RATIO = 0.9
TARGET_P99_RATIO = 2.0
TARGET_GROWTH = 0.10
TARGET_QUERY_P99_MS = 10.0
APP_VERSIONS = ("4.2.0", "4.2.1", "4.3.0", "5.0.0")

_children: list[subprocess.Popen[bytes]] = []


# -- processes ---------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def spawn(cmd: Sequence[str], *, env: dict[str, str], cwd: Path, log: Path) \
        -> subprocess.Popen[bytes]:
    out = open(log, "wb")  # noqa: SIM115 - the child owns it
    proc = subprocess.Popen(list(cmd), env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out,
                            stderr=subprocess.STDOUT, start_new_session=True)
    out.close()
    _children.append(proc)
    return proc


def stop(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM the child's process group, then SIGKILL whatever is left."""
    if proc in _children:
        _children.remove(proc)
    pgid = proc.pid  # start_new_session: the child leads its own group
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, sig)
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            continue
        # the leader is gone; make sure no worker or redis-server outlived it
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        return


def stop_all() -> None:
    for proc in list(_children):
        stop(proc, timeout=5.0)


def _on_signal(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def request(port: int, method: str, path: str, *, body: bytes | None = None,
            headers: dict[str, str] | None = None, timeout: float = 5.0) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def wait_ready(proc: subprocess.Popen[bytes], port: int, path: str, log: Path,
               timeout: float = 30.0, method: str = "GET", body: bytes | None = None) -> None:
    deadline = time.monotonic() + timeout
    last: str = ""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited ({proc.returncode}); log:\n{tail(log)}")
        try:
            status, _ = request(port, method, path, body=body,
                                headers={"Content-Type": "application/json"}, timeout=2.0)
            if status < 300:
                return
            last = f"HTTP {status}"
        except OSError as exc:
            last = type(exc).__name__
        time.sleep(0.1)
    raise RuntimeError(f"server on :{port} not ready after {timeout:.0f} s ({last}); "
                       f"log:\n{tail(log)}")


def tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text("utf-8", "replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without REDIS_URL or COLLECTOR_* (unknown names are fatal there)."""
    env = {k: v for k, v in os.environ.items()
           if k != "REDIS_URL" and not k.startswith("COLLECTOR_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def start_collector(tmp: Path, workers: int, token: str, name: str,
                    redis_url: str | None = None) -> tuple[subprocess.Popen[bytes], int, Path]:
    port = free_port()
    data = tmp / f"{name}-data"
    env = clean_env(COLLECTOR_DATA_DIR=str(data), COLLECTOR_API_TOKENS=token)
    if redis_url:
        env["REDIS_URL"] = redis_url
    log = tmp / f"{name}.log"
    proc = spawn([sys.executable, "-m", "collector.cli", "serve", "--bind",
                  f"127.0.0.1:{port}", "--workers", str(workers)], env=env, cwd=REPO, log=log)
    wait_ready(proc, port, "/healthz", log)
    return proc, port, log


# -- the report body ---------------------------------------------------------------------
def padded_report(shared: Path, target: int = 3500) -> bytes:
    """The TrustKit iOS example grown to ~3.5 KB the way real apps grow it: a longer bundle
    id, platform version and backup pins (TrustKit sends the whole configured pin set)."""
    doc = json.loads((shared / "examples" / "trustkit-ios.json").read_bytes())
    doc["app-bundle-id"] = "com.example.enterprise.mobile.banking.production.app"
    doc["app-platform-version"] = "18.1.1 (22B91)"
    pins = list(doc.get("known-pins") or [])
    doc["known-pins"] = pins
    i = 0

    def encode() -> bytes:
        # On the wire TrustKit escapes "/" as "\/" (NSJSONSerialization).
        return json.dumps(doc, separators=(",", ":")).replace("/", "\\/").encode("utf-8")

    while len(encode()) < target and len(pins) < 32:
        digest = hashlib.sha256(f"backup-pin-{i}".encode()).digest()
        pins.append(f'pin-sha256="{base64.b64encode(digest).decode("ascii")}"')
        i += 1
    return encode()


# -- wrk ---------------------------------------------------------------------------------
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


@dataclass
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    non2xx: int
    socket_errors: int

    @property
    def ok(self) -> int:
        return self.requests - self.non2xx


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not m:
        raise ValueError(f"unparsed wrk latency {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_wrk(out: str) -> WrkResult:
    def grab(pattern: str, default: str | None = None) -> str:
        m = re.search(pattern, out, re.MULTILINE)
        if m:
            return m.group(1)
        if default is None:
            raise ValueError(f"wrk output lacks {pattern!r}:\n{out}")
        return default

    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                       out)
    return WrkResult(
        rps=float(grab(r"^Requests/sec:\s+([\d.]+)")),
        p50_ms=_ms(grab(r"^\s+50%\s+(\S+)")),
        p99_ms=_ms(grab(r"^\s+99%\s+(\S+)")),
        requests=int(grab(r"^\s+(\d+) requests in")),
        non2xx=int(grab(r"Non-2xx or 3xx responses: (\d+)", "0")),
        socket_errors=sum(int(x) for x in errors.groups()) if errors else 0,
    )


def run_wrk(wrk: str, url: str, *, seconds: float, connections: int, script: Path,
            report: Path) -> WrkResult:
    cmd = [wrk, "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "5s",
           "--latency", "-s", str(script), url]
    env = dict(os.environ, REPORT=str(report))
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=seconds + 30,
                          start_new_session=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr}{done.stdout}")
    return parse_wrk(done.stdout)


# -- part 1: throughput ------------------------------------------------------------------
def throughput(args: argparse.Namespace, tmp: Path, wrk: str) -> dict[str, Any]:
    from collector.server import gunicorn_conf

    shared: Path = args.shared
    script = shared / "bench" / "post.lua"
    baseline_app = shared / "bench" / "baseline_app.py"
    for needed in (script, baseline_app):
        if not needed.is_file():
            raise SystemExit(f"missing {needed} (point --shared at the shared directory)")
    if args.report:
        report = Path(args.report).resolve()
    else:
        report = tmp / "trustkit-ios-3.5k.json"
        report.write_bytes(padded_report(shared))
    body = report.read_bytes()
    print(f"report body: {report} ({len(body)} bytes)")

    token = secrets.token_urlsafe(24)
    collector, cport, clog = start_collector(tmp, args.workers, token, "collector")

    kind = args.baseline_worker_class
    gargs = ["--workers", str(args.workers), "--log-level", "warning"]
    if kind == "same":
        gargs += ["--worker-class", str(gunicorn_conf.worker_class),
                  "--threads", str(gunicorn_conf.threads),
                  "--keep-alive", str(gunicorn_conf.keepalive),
                  "--backlog", str(gunicorn_conf.backlog)]
        kind_desc = f"{gunicorn_conf.worker_class}, {gunicorn_conf.threads} threads"
    else:
        gargs += ["--worker-class", "sync"]
        kind_desc = "sync (gunicorn defaults)"

    def start_app(name: str, app_file: Path) -> tuple[subprocess.Popen[bytes], int, Path]:
        """A bare Flask app under gunicorn with the baseline's settings."""
        port, log = free_port(), tmp / f"{name}.log"
        cmd = [sys.executable, "-m", "gunicorn", *gargs, "--bind", f"127.0.0.1:{port}",
               "--chdir", str(app_file.parent), f"{app_file.stem}:app"]
        proc = spawn(cmd, env=clean_env(PYTHONPATH=str(REPO)), cwd=tmp, log=log)
        wait_ready(proc, port, "/v1/reports", log, method="POST", body=body)
        return proc, port, log

    baseline, bport, blog = start_app("baseline", baseline_app)
    ceiling, eport, elog = start_app("ceiling", REPO / "bench" / "ceiling_app.py")
    print(f"collector :{cport} ({gunicorn_conf.worker_class}, {gunicorn_conf.threads} threads)"
          f"; baseline :{bport} and parse+validate ceiling :{eport} ({kind_desc}); "
          f"{args.workers} workers each, wrk -t1 -c{args.connections}")

    targets = {"baseline": f"http://127.0.0.1:{bport}/v1/reports",
               "ceiling": f"http://127.0.0.1:{eport}/v1/reports",
               "collector": f"http://127.0.0.1:{cport}/v1/reports"}
    collector_runs: list[WrkResult] = []

    def load(name: str, seconds: float) -> WrkResult:
        res = run_wrk(wrk, targets[name], seconds=seconds, connections=args.connections,
                      script=script, report=report)
        if name == "collector":
            collector_runs.append(res)
        return res

    for name in targets:
        load(name, 2)  # warm-up: imports, first connections, chain caches
    rounds: list[dict[str, Any]] = []
    print(f"{'round':>5}  {'baseline req/s':>14} {'p99':>8}  {'ceiling':>7}  "
          f"{'collector req/s':>15} {'p99':>8} {'non2xx':>6}  {'ratio':>5} {'p99x':>5}")
    for i in range(1, args.rounds + 1):
        b = load("baseline", args.duration)
        e = load("ceiling", args.duration)
        c = load("collector", args.duration)
        row = {"round": i, "baseline": vars(b), "ceiling": vars(e), "collector": vars(c),
               "ratio": c.rps / b.rps, "p99_ratio": c.p99_ms / b.p99_ms,
               "ceiling_ratio": e.rps / b.rps}
        rounds.append(row)
        print(f"{i:>5}  {b.rps:>14.0f} {b.p99_ms:>6.2f}ms  {row['ceiling_ratio']:>7.2f}  "
              f"{c.rps:>15.0f} {c.p99_ms:>6.2f}ms {c.non2xx:>6}  {row['ratio']:>5.2f} "
              f"{row['p99_ratio']:>5.2f}"
              + (f"  (baseline non2xx {b.non2xx})" if b.non2xx else "")
              + (f"  (socket errors b={b.socket_errors} c={c.socket_errors})"
                 if b.socket_errors or c.socket_errors else ""))

    ratio = statistics.median(r["ratio"] for r in rounds)
    ceiling_ratio = statistics.median(r["ceiling_ratio"] for r in rounds)
    p99_ratio = statistics.median(r["p99_ratio"] for r in rounds)
    non2xx = sum(r.non2xx for r in collector_runs)
    answered = sum(r.ok for r in collector_runs)
    sent_max = answered + args.connections * len(collector_runs)

    counted = -1
    deadline = time.monotonic() + 10.0
    while True:
        status, raw = request(cport, "GET", "/v1/summary",
                              headers={"Authorization": f"Bearer {token}"})
        if status == 200:
            counted = int(json.loads(raw)["reports"])
        if counted >= answered or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    count_ok = answered <= counted <= sent_max
    print(f"median throughput ratio {ratio:.3f} (target >= {TARGET_RATIO}): "
          f"{'MET' if ratio >= TARGET_RATIO else 'NOT MET'}")
    print(f"median ceiling ratio {ceiling_ratio:.3f}: the baseline plus only the collector's "
          "JSON parsing and validation (bench/ceiling_app.py), nothing stored")
    print(f"median p99 ratio {p99_ratio:.2f} (target <= {TARGET_P99_RATIO}): "
          f"{'MET' if p99_ratio <= TARGET_P99_RATIO else 'NOT MET'}")
    print(f"collector non-2xx responses: {non2xx}"
          + ("" if non2xx == 0 else "  <-- every report should be answered 2xx"))
    print(f"collector answered 2xx (wrk, incl. warm-up): {answered}; counted by /v1/summary: "
          f"{counted}; allowed range [{answered}, {sent_max}] (in-flight at wrk stop): "
          f"{'OK' if count_ok else 'MISMATCH'}")
    for name, log in (("collector", clog), ("baseline", blog), ("ceiling", elog)):
        text = log.read_text("utf-8", "replace")
        if re.search(r"Traceback|\[ERROR\]|CRITICAL", text):
            print(f"note: {name} log has errors; last lines:\n{tail(log, 15)}")
    for proc in (collector, baseline, ceiling):
        stop(proc)
    return {
        "report_bytes": len(body), "workers": args.workers, "connections": args.connections,
        "duration_s": args.duration, "baseline_worker_class": kind_desc,
        "collector_worker_class": f"{gunicorn_conf.worker_class}, {gunicorn_conf.threads} "
                                  "threads",
        "rounds": rounds, "median_ratio": ratio, "median_p99_ratio": p99_ratio,
        "median_ceiling_ratio": ceiling_ratio,
        "ratio_met": ratio >= TARGET_RATIO, "p99_met": p99_ratio <= TARGET_P99_RATIO,
        "collector_non2xx": non2xx, "answered_2xx": answered, "counted": counted,
        "count_ok": count_ok,
    }


# -- data generation for memory and queries ----------------------------------------------
def make_chains(n: int) -> list[list[str]]:
    """n distinct [leaf, CA] PEM chains: a self-signed EC P-256 CA and a leaf it signed."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)
    chains = []
    for i in range(n):
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"Bench Proxy CA {i}"),
                             x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Bench Proxy")])
        ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
              .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
              .not_valid_before(now - dt.timedelta(days=30))
              .not_valid_after(now + dt.timedelta(days=3650))
              .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
              .sign(ca_key, hashes.SHA256()))
        leaf_key = ec.generate_private_key(ec.SECP256R1())
        leaf = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                                            "*.example.com")]))
                .issuer_name(ca_name).public_key(leaf_key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(days=1))
                .not_valid_after(now + dt.timedelta(days=365))
                .add_extension(x509.SubjectAlternativeName([x509.DNSName("*.example.com")]),
                               critical=False)
                .sign(ca_key, hashes.SHA256()))
        chains.append([c.public_bytes(serialization.Encoding.PEM).decode("ascii")
                       for c in (leaf, ca)])
    return chains


class ReportMaker:
    """Reports as the ingest path builds them: formats.build, then per-chain classification."""

    def __init__(self, shared: Path, chains: list[list[str]], devices: int, seed: int) -> None:
        from collector.intel.classify import Classifier

        self.template = json.loads((shared / "examples" / "trustkit-ios.json").read_bytes())
        self.chains = chains
        self.devices = [f"{random.Random(seed + i).getrandbits(128):032X}"
                        for i in range(devices)]
        self.rng = random.Random(seed)
        self.classifier = Classifier.from_files(None)
        self.classes: dict[str, tuple[str, str | None]] = {}
        self.secret = b"bench-device-secret"

    def make(self, hostname: str, chain: int) -> Any:
        from collector.intake import formats

        doc = dict(self.template)
        doc["hostname"] = hostname
        doc["validated-certificate-chain"] = self.chains[chain]
        doc["app-vendor-id"] = self.rng.choice(self.devices)
        doc["app-version"] = self.rng.choice(APP_VERSIONS)
        report = formats.build(doc, received_ms=int(time.time() * 1000), secret=self.secret,
                               client_addr=None)
        fp = report.chain.fingerprint
        if fp not in self.classes:
            found = self.classifier.classify(report.chain.certificates, report.hostname,
                                             dt.datetime.now(dt.UTC))
            self.classes[fp] = (found.kind, found.label)
        kind, label = self.classes[fp]
        return replace(report, classification=kind, label=label)


class Writer:
    def __init__(self, url: str) -> None:
        from collector.aggregates.keys import Keys
        from collector.aggregates.writer import ReportStore, connect
        from collector.config import Settings

        defaults = Settings()
        self.client = connect(url, 30.0)
        self.store = ReportStore(self.client, Keys(defaults.key_prefix),
                                 retention_s=defaults.retention_seconds,
                                 host_cap=defaults.host_cap)
        self.seq = 0
        self.writer = f"bench-{os.getpid()}"

    def write(self, reports: list[Any], batch: int = 500) -> float:
        from collector.aggregates.writer import Stamped

        spent = 0.0
        for i in range(0, len(reports), batch):
            items = []
            for r in reports[i : i + batch]:
                self.seq += 1
                items.append(Stamped(r, self.writer, self.seq))
            t = time.perf_counter()
            self.store.write(items)
            spent += time.perf_counter() - t
        return spent


def used_memory(client: Any) -> int:
    return int(client.info("memory")["used_memory"])


_KIND = ((re.compile(r"\{h:[0-9a-f]+\}"), "{h}"), (re.compile(r"[0-9a-f]{64}"), "X"),
         (re.compile(r"(?<=:)\d{8}(?=:|$)"), "DAY"))


def memory_by_kind(client: Any) -> dict[str, tuple[int, int]]:
    """Bytes and key count per key shape (bench only: SCAN is never on a request path)."""
    out: dict[str, tuple[int, int]] = {}
    for raw in client.scan_iter(match="pc:*", count=1000):
        key = raw.decode()
        kind = key
        for pattern, repl in _KIND:
            kind = pattern.sub(repl, kind)
        size = int(client.memory_usage(key, samples=0) or 0)
        total, count = out.get(kind, (0, 0))
        out[kind] = (total + size, count + 1)
    return out


def fill(maker: ReportMaker, writer: Writer, hosts: list[str], n: int, chains: int) \
        -> tuple[float, float]:
    """n reports over the hosts x chains, in chunks; returns (build s, write s)."""
    build = write = 0.0
    rng = maker.rng
    chunk = 10_000
    done = 0
    while done < n:
        t = time.perf_counter()
        reports = [maker.make(rng.choice(hosts), rng.randrange(chains))
                   for _ in range(min(chunk, n - done))]
        build += time.perf_counter() - t
        write += writer.write(reports)
        done += len(reports)
    return build, write


# -- part 2: memory ----------------------------------------------------------------------
def memory(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    from collector.server.serve import RedisServer

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
    ok = growth <= TARGET_GROWTH
    mib = 2**20
    print(f"reports: {n} then {2 * n} over {len(hosts)} hosts x {len(chains)} chains, "
          f"{args.devices} devices, {len(APP_VERSIONS)} app versions; counted {totals}; "
          f"{keys} keys")
    print(f"used_memory: empty {empty / mib:.2f} MiB; after {n}: {first / mib:.2f} MiB; "
          f"after {2 * n}: {second / mib:.2f} MiB")
    print(f"growth {growth * 100:.1f} % (target <= {TARGET_GROWTH * 100:.0f} %): "
          f"{'MET' if ok else 'NOT MET'}")
    print(f"per host: {(first - empty) / len(hosts) / 1024:.1f} KiB after {n}, "
          f"{(second - empty) / len(hosts) / 1024:.1f} KiB after {2 * n} (net of empty Redis)")
    print(f"write speed: {2 * n / (w1 + w2):.0f} reports/s through ReportStore.write "
          f"(batches of 500; building the reports took {b1 + b2:.1f} s)")
    if totals != 2 * n:
        print(f"note: counted {totals} != written {2 * n}")
    print(f"{'key shape (MEMORY USAGE)':<34} {'keys':>5} {'after ' + str(n):>13} "
          f"{'after ' + str(2 * n):>13}")
    top = sorted(kinds2, key=lambda k: -kinds2[k][0])
    for kind in top[:12]:
        before = kinds1.get(kind, (0, 0))[0]
        print(f"{kind:<34} {kinds2[kind][1]:>5} {before / 1024:>10.0f} KiB "
              f"{kinds2[kind][0] / 1024:>9.0f} KiB")
    return {"reports": [n, 2 * n], "hosts": len(hosts), "chains": len(chains),
            "devices": args.devices,
            "used_memory_empty": empty, "used_memory": [first, second],
            "growth": growth, "growth_met": ok, "counted": totals, "keys": keys,
            "bytes_per_host": [(first - empty) / len(hosts), (second - empty) / len(hosts)],
            "write_reports_per_s": 2 * n / (w1 + w2),
            "by_key_shape": {k: {"keys": v[1], "bytes": [kinds1.get(k, (0, 0))[0], v[0]]}
                             for k, v in kinds2.items()}}


# -- part 3: queries ---------------------------------------------------------------------
def percentiles(samples: list[float]) -> dict[str, float]:
    s = sorted(samples)

    def at(q: float) -> float:
        return s[min(len(s) - 1, int(q * len(s)))]

    return {"p50_ms": at(0.50), "p99_ms": at(0.99), "max_ms": s[-1], "n": len(s)}


def timed_gets(port: int, token: str, paths: Iterator[str], n: int, warm: int) -> list[float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Authorization": f"Bearer {token}"}
    out: list[float] = []
    try:
        for i in range(warm + n):
            path = next(paths)
            t = time.perf_counter()
            conn.request("GET", path, headers=headers)
            resp = conn.getresponse()
            resp.read()
            spent = (time.perf_counter() - t) * 1000
            if resp.status != 200:
                raise RuntimeError(f"GET {path}: HTTP {resp.status}")
            if i >= warm:
                out.append(spent)
    finally:
        conn.close()
    return out


def queries(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    from collector.server.serve import RedisServer

    nhosts = 2_000 if args.quick else 10_000
    nreq = 500 if args.quick else 2_000
    hosts = [f"h{i}.svc{i % 97}.example.com" for i in range(nhosts)]
    chains = make_chains(10)
    maker = ReportMaker(args.shared, chains, devices=50_000, seed=2)
    server = RedisServer(tmp / "redis-queries", appendonly=False).start()
    try:
        writer = Writer(server.url)
        # one report per host, then as many again spread at random (skewed counts)
        reports = [maker.make(h, i % len(chains)) for i, h in enumerate(hosts)]
        reports += [maker.make(maker.rng.choice(hosts), maker.rng.randrange(len(chains)))
                    for _ in range(nhosts)]
        writer.write(reports)
        counted_hosts = int(writer.client.zcard("pc:{g}:hosts"))
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
    print(f"{counted_hosts} hosts aggregated ({len(reports)} reports); {nreq} sequential "
          f"keep-alive requests each, {args.workers} workers")
    met = True
    for name, p in (("GET /v1/summary", summary), ("GET /v1/hosts/<h>", host)):
        ok = p["p99_ms"] <= TARGET_QUERY_P99_MS
        met &= ok
        print(f"{name:<18} p50 {p['p50_ms']:.2f} ms  p99 {p['p99_ms']:.2f} ms  "
              f"max {p['max_ms']:.2f} ms  (target p99 <= {TARGET_QUERY_P99_MS:.0f} ms): "
              f"{'MET' if ok else 'NOT MET'}")
    return {"hosts": counted_hosts, "reports": len(reports), "requests": nreq,
            "summary": summary, "host": host, "met": met}


# -- main --------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="short smoke run")
    p.add_argument("--only", choices=("throughput", "memory", "queries"))
    p.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    p.add_argument("--connections", type=int, default=8, help="wrk connections (default 8)")
    p.add_argument("--rounds", type=int, help="alternating rounds (default 3; quick 2)")
    p.add_argument("--duration", type=float, help="seconds per wrk run (default 10; quick 3)")
    p.add_argument("--baseline-worker-class", choices=("same", "sync"), default="same",
                   help="baseline worker class: the collector's (default) or gunicorn's sync")
    p.add_argument("--report", help="report body to POST (default: a padded 3.5 KB TrustKit "
                                    "iOS report)")
    p.add_argument("--shared", type=Path, default=REPO.parent / "shared",
                   help="the shared directory (bench/, examples/); default %(default)s")
    p.add_argument("--devices", type=int, default=50_000,
                   help="distinct devices in the memory part (default %(default)s)")
    p.add_argument("--json", type=Path, help="write every figure as JSON to this path")
    args = p.parse_args(argv)
    args.shared = args.shared.resolve()
    args.rounds = args.rounds or (2 if args.quick else 3)
    args.duration = args.duration or (3.0 if args.quick else 10.0)

    parts = [args.only] if args.only else ["throughput", "memory", "queries"]
    wrk = shutil.which("wrk")
    if "throughput" in parts and wrk is None:
        print("wrk is not installed: apt-get install wrk", file=sys.stderr)
        return 2

    signal.signal(signal.SIGTERM, _on_signal)
    results: dict[str, Any] = {"quick": args.quick, "cpus": os.cpu_count()}
    tmp = Path(tempfile.mkdtemp(prefix="pc-bench-"))
    try:
        for part in parts:
            print(f"\n== {part} ==", flush=True)
            t = time.monotonic()
            if part == "throughput":
                assert wrk is not None
                results[part] = throughput(args, tmp, wrk)
            elif part == "memory":
                results[part] = memory(args, tmp)
            else:
                results[part] = queries(args, tmp)
            print(f"({part}: {time.monotonic() - t:.0f} s)", flush=True)
    finally:
        stop_all()
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", "utf-8")
        print(f"\nfigures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
