"""Driving load: wrk POSTing one report body, and sequential keep-alive GETs timed one by one."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


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
            report: Path, script_env: dict[str, str] | None = None) -> WrkResult:
    """wrk -t1 running ``script`` with $REPORT naming the body file (and ``script_env``)."""
    cmd = [wrk, "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "5s",
           "--latency", "-s", str(script), url]
    env = dict(os.environ, REPORT=str(report), **(script_env or {}))
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=seconds + 30,
                          start_new_session=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr}{done.stdout}")
    return parse_wrk(done.stdout)


# -- sequential GETs ---------------------------------------------------------------------
def percentiles(samples: list[float]) -> dict[str, float]:
    s = sorted(samples)

    def at(q: float) -> float:
        return s[min(len(s) - 1, int(q * len(s)))]

    return {"p50_ms": at(0.50), "p99_ms": at(0.99), "max_ms": s[-1], "n": len(s)}


def timed_gets(port: int, token: str, paths: Iterator[str], n: int, warm: int) -> list[float]:
    """Milliseconds of each of ``n`` GETs on one keep-alive connection, after ``warm`` more."""
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
