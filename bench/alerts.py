"""Part 4: ingest throughput with every alert rule on and hung receivers vs. alerts off.

Issue 12: "ingestion throughput with alerts on and a hung receiver stays within 5 % of alerts
off", i.e. the median (b)/(a) ratio >= 0.95. Each round runs the collector twice, one after
the other (off then on in odd rounds, on then off in even ones, so a drift of the machine's
speed cancels out), each time freshly started (``pin-collector serve``, own data dir and
embedded Redis, ``--workers`` workers):

(a) alerts off: ``COLLECTOR_ALERT_RULES=none`` (no alerter, hence no events), no destination;
(b) every rule on, ``COLLECTOR_ALERT_WEBHOOKS`` (signed with ``COLLECTOR_ALERT_WEBHOOK_SECRET``)
    and ``COLLECTOR_ALERT_SLACK_WEBHOOKS`` each at its own ``servers.HangingReceiver`` on
    127.0.0.1 (accepts, never answers: every attempt waits out the 5 s timeout, the outbox
    only grows), ``COLLECTOR_ALERT_COOLDOWN_SECONDS=1``.

Both are loaded identically: a 2 s warm-up, then ``--duration`` s of ``wrk -t1 -c C`` with
``bench/new_hosts.lua``, which POSTs the 3.5 KB report with a new hostname on every request
(``--new-every N``: every N requests). A new host is a new (host, chain) pair, so in (b) every
report (every N-th) fires a ``new-chain`` alert, continuously through the run: two outbox
entries each, all left pending. A fresh collector per run, because a (b) collector left
running keeps claiming and retrying its backlog while the next (a) run is measured.

Per run: req/s, p99, non-2xx, the collector's CPU per report (its master, workers and
embedded Redis, from /proc, over the measured run until every report is written: less
sensitive than req/s to whatever else the machine runs); for (b) the alerts fired during the
measured run (outbox entries / destinations, read from the embedded Redis once the collector
has counted every report wrk saw answered), the outbox entries still pending, deliveries the
receivers accepted (``pin_collector_alerts_delivered_total``, expected 0), alerts fired over
the collector's life (``pin_collector_alerts_fired_total``, warm-up included) and connections
the receivers took.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

from bench import report
from bench.load import WrkResult, padded_report, run_wrk
from bench.servers import (
    REPO,
    HangingReceiver,
    counted_reports,
    group_cpu_seconds,
    metric_totals,
    start_collector,
    stop,
)
from bench.targets import TARGET_ALERTS_RATIO

WARMUP_S = 2.0
COOLDOWN_S = "1"
SECRET = "bench-webhook-secret"  # noqa: S105 - signs the bench's own webhook bodies


def run(args: argparse.Namespace, tmp: Path, wrk: str) -> dict[str, Any]:
    from collector.config import ALERT_RULES

    script = REPO / "bench" / "new_hosts.lua"
    if args.report:
        body_file = Path(args.report).resolve()
    else:
        body_file = tmp / "trustkit-ios-3.5k.json"
        body_file.write_bytes(padded_report(args.shared))
    report.report_body(body_file, body_file.read_bytes())

    hook, slack = HangingReceiver(), HangingReceiver()
    receivers = (hook, slack)
    modes = {
        "off": {"COLLECTOR_ALERT_RULES": "none"},
        "on": {"COLLECTOR_ALERT_RULES": ",".join(ALERT_RULES),
               "COLLECTOR_ALERT_WEBHOOKS": f"http://127.0.0.1:{hook.port}/pin-alerts",
               "COLLECTOR_ALERT_WEBHOOK_SECRET": SECRET,
               "COLLECTOR_ALERT_SLACK_WEBHOOKS":
                   f"http://127.0.0.1:{slack.port}/services/T000/B000/XXXXXXXX",
               "COLLECTOR_ALERT_COOLDOWN_SECONDS": COOLDOWN_S},
    }
    report.alerts_setup(workers=args.workers, connections=args.connections,
                        new_every=args.new_every, hook=hook.port, slack=slack.port)
    load_before = os.getloadavg()
    rounds: list[dict[str, Any]] = []
    try:
        report.alerts_header()
        for i in range(1, args.rounds + 1):
            order = ("off", "on") if i % 2 else ("on", "off")  # ABBA: drift cancels out
            runs = {mode: _one(args, tmp, wrk, script, body_file, f"alerts-{mode}-{i}",
                               modes[mode], receivers) for mode in order}
            off, on = runs["off"], runs["on"]
            a, b = off.pop("wrk"), on.pop("wrk")
            row = {"round": i, "order": "/".join(order), "off": {**vars(a), **off},
                   "on": {**vars(b), **on},
                   "ratio": b.rps / a.rps, "p99_ratio": b.p99_ms / a.p99_ms,
                   "cpu_ratio": on["cpu_ms_per_report"] / off["cpu_ms_per_report"]}
            rounds.append(row)
            report.alerts_row(row, a, b)
    finally:
        for r in receivers:
            r.close()

    ratio = statistics.median(r["ratio"] for r in rounds)
    fired = sum(r["on"]["fired"] for r in rounds)
    answered = sum(r["on"]["ok"] for r in rounds)
    result = {
        "workers": args.workers, "connections": args.connections,
        "duration_s": args.duration, "new_every": args.new_every,
        "cooldown_s": int(COOLDOWN_S), "rounds": rounds,
        "median_ratio": ratio, "ratio_met": ratio >= TARGET_ALERTS_RATIO,
        "median_p99_ratio": statistics.median(r["p99_ratio"] for r in rounds),
        "median_cpu_ratio": statistics.median(r["cpu_ratio"] for r in rounds),
        "fired": fired, "answered_2xx": answered,
        "delivered": sum(r["on"]["delivered"] for r in rounds),
        "count_ok": all(r[m]["count_ok"] for r in rounds for m in ("off", "on")),
    }
    result["loadavg_1m"] = [load_before[0], os.getloadavg()[0]]
    report.alerts_summary(result)
    return result


def _one(args: argparse.Namespace, tmp: Path, wrk: str, script: Path, body_file: Path,
         name: str, settings: dict[str, str], receivers: tuple[HangingReceiver, ...]) \
        -> dict[str, Any]:
    """One fresh collector: warm-up, the measured run, then what it counted and fired."""
    token = secrets.token_urlsafe(24)
    proc, port, log = start_collector(tmp, args.workers, token, name, settings=settings)
    data = tmp / f"{name}-data"
    alerts_on = "COLLECTOR_ALERT_WEBHOOKS" in settings
    try:
        url = f"http://127.0.0.1:{port}/v1/reports"

        def load(prefix: str, seconds: float) -> WrkResult:
            return run_wrk(wrk, url, seconds=seconds, connections=args.connections,
                           script=script, report=body_file,
                           script_env={"PREFIX": prefix, "NEW_EVERY": str(args.new_every)})

        warm = load("warm", WARMUP_S)
        counted_reports(port, token, warm.ok)  # the warm-up's reports written, their alerts fired
        redis = _redis(data) if alerts_on else None
        outbox0 = _outbox(redis)
        seen0 = sum(r.accepted for r in receivers)
        cpu0 = group_cpu_seconds(proc.pid)
        res = load("run", args.duration)
        seen1 = sum(r.accepted for r in receivers)
        total = counted_reports(port, token, warm.ok + res.ok)
        cpu1 = group_cpu_seconds(proc.pid)  # once every report is written, alerts fired
        sent_max = warm.ok + res.ok + args.connections * 2  # in flight when wrk stopped
        outbox1 = _outbox(redis)
        pending = _pending(redis)
        if alerts_on:
            time.sleep(1.5)  # each worker's writer publishes its alert counters once a second
        figures = _metrics(port)
        if redis is not None:
            redis.close()
        report.log_errors({name: log})
    finally:
        stop(proc)
        shutil.rmtree(data, ignore_errors=True)  # its spool: a few hundred MB per run
    ndest = 2 if alerts_on else 1
    return {"wrk": res, "ok": res.ok,
            "cpu_ms_per_report": (cpu1 - cpu0) * 1000 / max(1, res.requests),
            "count_ok": warm.ok + res.ok <= total <= sent_max,
            "fired": (outbox1 - outbox0) // ndest, "outbox": outbox1, "pending": pending,
            "fired_total": figures.get("pin_collector_alerts_fired_total", 0),
            "delivered": figures.get("pin_collector_alerts_delivered_total", 0),
            "receiver_connections": seen1 - seen0}


def _redis(data: Path) -> Any:
    """A client of the collector's embedded Redis (its unix socket in the data dir)."""
    import redis

    from collector.server.embedded import RedisServer

    sock = RedisServer(data / "redis").socket  # only works out the path; starts nothing
    return redis.Redis(unix_socket_path=str(sock), socket_timeout=5.0)


def _keys() -> Any:
    from collector.aggregates.keys import Keys
    from collector.config import Settings

    return Keys(Settings().key_prefix).alerts


def _outbox(client: Any) -> int:
    return int(client.xlen(_keys().outbox)) if client is not None else 0


def _pending(client: Any) -> int:
    """Outbox entries not acknowledged (every one, the receivers never answer)."""
    import redis

    from collector.alerts.deliver import GROUP

    if client is None:
        return 0
    try:
        return int(client.xpending(_keys().outbox, GROUP)["pending"])
    except redis.ResponseError:  # no group yet: nothing read, so nothing acknowledged either
        return _outbox(client)


def _metrics(port: int) -> dict[str, int]:
    """The alert counters of GET /metrics, summed over their labels."""
    try:
        totals = metric_totals(port)
    except RuntimeError:
        return {}
    return {name: int(value) for name, value in totals.items()
            if name.startswith("pin_collector_alerts_") and name.endswith("_total")}
