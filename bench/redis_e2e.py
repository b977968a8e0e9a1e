"""The ``redis`` part's end-to-end rows: Redis CPU per report with the real collector.

``pin-collector serve`` (``--workers``, default settings) writes to a redis-server the bench
owns (configured as the embedded one: AOF, fsync every second), and wrk POSTs reports shaped
like a storm (one host, three chains, 100 k devices) or a diverse load (1 k hosts x 10
chains), each request a TrustKit iOS report with a random host, chain and device (the
app-vendor-id) drawn by the wrk script. Whatever batches the writers form at that speed are
the batches measured: after a warm-up, ``CONFIG RESETSTAT``, a measured run, then
``GET /v1/summary`` until every report answered 2xx is counted. Figures per counted report:
the writer's commands and scripts in ``INFO commandstats`` (as the direct rows) and the Redis
process's CPU, and the mean batch the writers sent (``pin_collector_writer_batched_reports_total``
over ``pin_collector_writer_batches_total`` on /metrics, read after each worker's metrics
tick).
"""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path
from typing import Any

from bench.data import make_chains
from bench.load import run_wrk
from bench.redis_cpu import DIVERSE, STORM, Load, _figures, _stats
from bench.servers import counted_reports, metric_totals, start_collector, stop

HOST, DEVICE = "__HOST__", "__DEVICE__"

# Each request: a template (chain) at random, a host and a device at random in its range.
_SCRIPT = """\
local T = {%(templates)s}
local HOSTS, DEVICES = %(hosts)d, %(devices)d
math.randomseed(os.time() + math.floor(os.clock() * 1e6))
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  local t = T[math.random(#T)]
  local host = "api.example.com"
  if HOSTS > 1 then
    local i = math.random(HOSTS) - 1
    host = string.format("h%%d.svc%%d.example.com", i, i %% 37)
  end
  local dev = string.format("%%08X-0000-4000-8000-%%012X", math.random(DEVICES), 0)
  return wrk.format(nil, nil, nil, t[1] .. host .. t[2] .. dev .. t[3])
end
"""


def _template(shared: Path, chain: list[str]) -> tuple[str, str, str]:
    """The TrustKit iOS example with this chain, cut around the host and device."""
    doc = json.loads((shared / "examples" / "trustkit-ios.json").read_bytes())
    doc["hostname"] = HOST
    doc["app-vendor-id"] = DEVICE
    doc["validated-certificate-chain"] = chain
    text = json.dumps(doc, separators=(",", ":")).replace("/", "\\/")
    if text.index(HOST) > text.index(DEVICE):
        raise ValueError("the template must name the host before the device")
    a, rest = text.split(HOST)
    b, c = rest.split(DEVICE)
    return a, b, c


def write_script(path: Path, shared: Path, load: Load) -> Path:
    chains = make_chains(load.chains)
    parts = ",".join("{" + ",".join(f"[==[{p}]==]" for p in _template(shared, c)) + "}"
                     for c in chains)
    path.write_text(_SCRIPT % {"templates": parts, "hosts": load.hosts,
                               "devices": load.devices})
    return path


def measure(args: Any, tmp: Path, wrk: str, load: Load, seconds: float,
            warm_s: float) -> dict[str, Any]:
    """Serve, warm up, reset the stats, load for ``seconds``, wait until all is counted."""
    import redis

    from collector.durable.ingest import TICK_S
    from collector.server.embedded import RedisServer

    server = RedisServer(tmp / f"e2e-redis-{load.name}").start()
    node = redis.Redis.from_url(server.url)
    token = secrets.token_urlsafe(24)
    script = write_script(tmp / f"e2e-{load.name}.lua", args.shared, load)
    dummy = tmp / "e2e-unused-body"
    dummy.write_text("{}")
    proc = None
    try:
        proc, port, _log = start_collector(tmp, args.workers, token, f"e2e-{load.name}",
                                           redis_url=server.url)
        url = f"http://127.0.0.1:{port}/v1/reports"
        run_wrk(wrk, url, seconds=warm_s, connections=args.connections, script=script,
                report=dummy)
        warm_total = settled(port, token)
        time.sleep(TICK_S)  # every worker has published its batches so far
        b0 = batches(port)
        node.config_resetstat()
        _, cpu0 = _stats(node)
        res = run_wrk(wrk, url, seconds=seconds, connections=args.connections, script=script,
                      report=dummy)
        answered = res.requests - res.non2xx
        counted = settled(port, token) - warm_total
        stats, cpu1 = _stats(node)
        time.sleep(TICK_S)
        b1 = batches(port)
    finally:
        if proc is not None:
            stop(proc)
        node.close()
        server.stop()
    out = _figures(stats, cpu1 - cpu0, max(counted, 1))
    sent, held = b1[0] - b0[0], b1[1] - b0[1]
    out.update(reports=counted, answered=answered, rps=res.rps, batches=sent,
               mean_batch=held / sent if sent else 0.0)
    return out


def settled(port: int, token: str, timeout: float = 120.0) -> int:
    """The count once every report the workers accepted (/metrics) is in it."""
    deadline = time.monotonic() + timeout
    while True:
        accepted = metric_totals(port).get("pin_collector_reports_accepted_total", 0.0)
        now = counted_reports(port, token, 0, timeout=0)
        if now >= accepted or time.monotonic() > deadline:
            return now
        time.sleep(0.5)


def batches(port: int) -> tuple[float, float]:
    """The writers' batches and the reports in them so far."""
    found = metric_totals(port)
    return (found.get("pin_collector_writer_batches_total", 0.0),
            found.get("pin_collector_writer_batched_reports_total", 0.0))


def run(args: Any, tmp: Path, wrk: str) -> dict[str, Any]:
    seconds = 4.0 if args.quick else 15.0
    warm = 2.0 if args.quick else 5.0
    out = {}
    for load in (STORM, DIVERSE):
        r = measure(args, tmp, wrk, load, seconds, warm)
        out[load.name] = r
        print(f"{load.name} through the real collector ({args.workers} workers, wrk -c "
              f"{args.connections}, {seconds:.0f} s, {r['rps']:,.0f} reports/s): "
              f"{r['reports']} counted of {r['answered']} answered; Redis µs per report "
              f"{r['us_per_report']:.2f} (process CPU {r['process_us_per_report']:.2f}); "
              f"batches of {r['mean_batch']:.0f} reports on average")
    return out


