"""Child processes of the benchmark: the collector, bare gunicorn apps, and their logs.

Everything listens on loopback only; every child runs in its own process group, and
stop_all (called on exit) kills whatever is left of each group.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

_children: list[subprocess.Popen[bytes]] = []


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


class HangingReceiver:
    """A listener on 127.0.0.1 that accepts every connection and never answers (nor reads):
    an alert receiver that hangs, so each delivery attempt lasts its whole timeout.
    ``accepted`` counts the connections, one per attempt."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self._sock.settimeout(0.2)
        self.port = int(self._sock.getsockname()[1])
        self.accepted = 0
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"hang-{self.port}",
                                        daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._held.append(conn)  # kept open, unread, unanswered until close()
            self.accepted += 1

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2.0)
        for conn in [*self._held, self._sock]:
            with contextlib.suppress(OSError):
                conn.close()
        self._held.clear()


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU seconds used so far by the live processes of a process group (a
    child of ``spawn`` leads its own: gunicorn's master, its workers and its redis-server)."""
    ticks = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            stat = Path(f"/proc/{pid}/stat").read_text("ascii", "replace")
        except OSError:  # gone meanwhile
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # from field 3 (state) on
        if int(fields[2]) == pgid:  # field 5: pgrp; 14, 15: utime, stime
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def request(port: int, method: str, path: str, *, body: bytes | None = None,
            headers: dict[str, str] | None = None, timeout: float = 5.0) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def metric_totals(port: int) -> dict[str, float]:
    """GET /metrics summed by sample name (every worker's, over every label)."""
    from prometheus_client.parser import text_string_to_metric_families

    status, raw = request(port, "GET", "/metrics")
    if status != 200:
        raise RuntimeError(f"/metrics answered {status}")
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(raw.decode("utf-8", "replace")):
        for sample in family.samples:
            found[sample.name] = found.get(sample.name, 0.0) + sample.value
    return found


def counted_reports(port: int, token: str, answered: int, timeout: float = 10.0) -> int:
    """Reports counted by GET /v1/summary once it reaches ``answered`` (or after ``timeout``)."""
    counted = -1
    deadline = time.monotonic() + timeout
    while True:
        status, raw = request(port, "GET", "/v1/summary",
                              headers={"Authorization": f"Bearer {token}"})
        if status == 200:
            counted = int(json.loads(raw)["reports"])
        if counted >= answered or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    return counted


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
                    redis_url: str | None = None, settings: dict[str, str] | None = None) \
        -> tuple[subprocess.Popen[bytes], int, Path]:
    """`pin-collector serve` on a free port with its own data dir (``<tmp>/<name>-data``;
    embedded Redis unless ``redis_url``) and any further COLLECTOR_* ``settings``, ready to
    answer."""
    port = free_port()
    data = tmp / f"{name}-data"
    env = clean_env(COLLECTOR_DATA_DIR=str(data), COLLECTOR_API_TOKENS=token, **(settings or {}))
    if redis_url:
        env["REDIS_URL"] = redis_url
    log = tmp / f"{name}.log"
    proc = spawn([sys.executable, "-m", "collector.cli", "serve", "--bind",
                  f"127.0.0.1:{port}", "--workers", str(workers)], env=env, cwd=REPO, log=log)
    wait_ready(proc, port, "/healthz", log)
    return proc, port, log


def start_app(tmp: Path, name: str, app_file: Path, gunicorn_args: Sequence[str],
              body: bytes) -> tuple[subprocess.Popen[bytes], int, Path]:
    """A bare Flask app (``app`` in ``app_file``) under gunicorn, ready once it accepts
    ``body`` on POST /v1/reports."""
    port, log = free_port(), tmp / f"{name}.log"
    cmd = [sys.executable, "-m", "gunicorn", *gunicorn_args, "--bind", f"127.0.0.1:{port}",
           "--chdir", str(app_file.parent), f"{app_file.stem}:app"]
    proc = spawn(cmd, env=clean_env(PYTHONPATH=str(REPO)), cwd=tmp, log=log)
    wait_ready(proc, port, "/v1/reports", log, method="POST", body=body)
    return proc, port, log
