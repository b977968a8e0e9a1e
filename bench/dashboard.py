"""Dashboard pages' server time over 10 k aggregated hosts (SPEC §7: <= 50 ms per page).

The hosts are aggregated by ``bench.data.aggregated_hosts`` (>= 1 report each, in a private
redis-server), plus an alert log of 2 000 alerts on those hosts and chains; the collector is
served against it, one session is signed in through the sign-in form (CSRF token and all),
then each page is requested sequentially on one keep-alive connection. The server time is
the page's ``Server-Timing: app;dur=`` (from the request's start to the response, templates
rendered, as the access log's ``duration_ms``); the client's wall time is shown beside it.
Last, the aggregated day is copied to the six days before it and the 7-day overview is timed
again: a week of 10 k hosts a day, the windowed summary's worst case.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import re
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bench import report
from bench.data import aggregated_hosts, counted_hosts
from bench.load import percentiles
from bench.servers import start_collector, stop
from bench.targets import TARGET_PAGE_MS

_CSRF = re.compile(rb'name="csrf_token" value="([^"]+)"')
_DUR = re.compile(r"app;dur=([0-9.]+)")


def _alerts(client: Any, hosts: list[str], fps: list[str], n: int) -> None:
    """An alert log as the alerter writes it (``keys.AlertKeys.log``), newest last."""
    from collector.aggregates.keys import Keys

    log = Keys().alerts.log
    rng = random.Random(5)
    with client.pipeline(transaction=False) as pipe:
        for i in range(n):
            host, fp = rng.choice(hosts), rng.choice(fps)
            alert = {"id": f"{i:032x}", "rule": "new-chain", "hostname": host,
                     "fingerprint": fp, "classification": "unknown", "label": None,
                     "reports": 1, "devices": 1, "first_seen": "2026-12-01T00:00:00Z",
                     "fired_at": "2026-12-01T00:00:00Z",
                     "url": f"http://127.0.0.1:8000/hosts/{host}"}
            pipe.xadd(log, {"alert": json.dumps(alert)})
        pipe.execute()


class Session:
    """One signed-in browser, as far as the server can tell: the cookie, on one connection."""

    def __init__(self, port: int, token: str) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        self.cookie = ""
        status, body, _ = self.get("/signin")
        found = _CSRF.search(body)
        if status != 200 or found is None:
            raise RuntimeError(f"no sign-in form (HTTP {status})")
        form = urlencode({"csrf_token": found.group(1).decode(), "token": token})
        self.conn.request("POST", "/signin", body=form, headers={
            "Content-Type": "application/x-www-form-urlencoded", "Cookie": self.cookie})
        resp = self.conn.getresponse()
        resp.read()
        self._keep(resp)
        if resp.status != 303:
            raise RuntimeError(f"sign-in refused (HTTP {resp.status})")

    def _keep(self, resp: http.client.HTTPResponse) -> None:
        for header in resp.headers.get_all("Set-Cookie") or []:
            self.cookie = header.split(";", 1)[0]

    def get(self, path: str) -> tuple[int, bytes, float]:
        """Status, body and server milliseconds of one page."""
        self.conn.request("GET", path, headers={"Cookie": self.cookie} if self.cookie else {})
        resp = self.conn.getresponse()
        body = resp.read()
        self._keep(resp)
        found = _DUR.search(resp.headers.get("Server-Timing") or "")
        return resp.status, body, float(found.group(1)) if found else -1.0

    def close(self) -> None:
        self.conn.close()


def _a_week(url: str) -> None:
    """Make the aggregated day a week: every global day key of today (``{g}`` and the ranking
    shards ``{g:T}``) copied to the six days before, as if the same hosts had reported every
    day, so that a 7-day window unions seven full days of rankings."""
    import redis

    client = redis.Redis.from_url(url)
    today = datetime.now(UTC).date()
    stamp = today.strftime("%Y%m%d").encode()
    for key in list(client.scan_iter(match=b"*{g*" + stamp + b"*", count=1000)):
        for back in range(1, 7):
            older = (today - timedelta(days=back)).strftime("%Y%m%d").encode()
            client.copy(key, key.replace(stamp, older), replace=True)
    client.close()


def _timed(session: Session, paths: Callable[[], str], n: int, warm: int) \
        -> tuple[dict[str, float], dict[str, float]]:
    server, wall = [], []
    for i in range(warm + n):
        path = paths()
        t = time.perf_counter()
        status, _, spent = session.get(path)
        took = (time.perf_counter() - t) * 1000
        if status != 200 or spent < 0:
            raise RuntimeError(f"GET {path}: HTTP {status}")
        if i >= warm:
            server.append(spent)
            wall.append(took)
    return percentiles(server), percentiles(wall)


def run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    from collector.server.embedded import RedisServer

    nhosts = 2_000 if args.quick else 10_000
    nreq = 60 if args.quick else 200
    server = RedisServer(tmp / "redis-dashboard", appendonly=False).start()
    try:
        writer, hosts, reports = aggregated_hosts(args.shared, server.url, nhosts)
        fps = sorted({r.chain.fingerprint for r in reports})
        _alerts(writer.client, hosts, fps, 2_000)
        nhosts_counted = counted_hosts(writer)
        writer.client.close()
        token = secrets.token_urlsafe(24)
        proc, port, _log = start_collector(tmp, args.workers, token, "collector-dashboard",
                                           redis_url=server.url)
        try:
            rng = random.Random(4)
            session = Session(port, token)
            pages: dict[str, Callable[[], str]] = {
                "overview": lambda: "/",
                "overview, last 7 d": lambda: "/?last=7d",
                "hosts": lambda: "/hosts",
                "hosts, one class": lambda: "/hosts?classification=interception-tool",
                "host": lambda: f"/hosts/{rng.choice(hosts)}",
                "chain": lambda: f"/chains/{rng.choice(fps)}",
                "alerts": lambda: "/alerts",
            }
            figures = {}
            try:
                for name, paths in pages.items():
                    srv, wall = _timed(session, paths, nreq, warm=15)
                    figures[name] = {"server": srv, "wall": wall}
                _a_week(server.url)
                srv, wall = _timed(session, lambda: "/?last=7d", nreq, warm=15)
                figures["overview, 7 d, week held"] = {"server": srv, "wall": wall}
            finally:
                session.close()
        finally:
            stop(proc)
    finally:
        server.stop()
    met = all(f["server"]["p99_ms"] <= TARGET_PAGE_MS for f in figures.values())
    result = {"hosts": nhosts_counted, "reports": len(reports), "requests": nreq,
              "pages": figures, "met": met}
    report.dashboard(result, workers=args.workers)
    return result
