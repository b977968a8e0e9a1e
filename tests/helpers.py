"""Helpers shared by the test packages: golden examples, posting reports, reading Redis back.

Fixtures live in ``conftest.py``; plain functions and constants live here, so no test
module imports another."""

from __future__ import annotations

import contextlib
import copy
import http.client
import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import redis
from flask.testing import FlaskClient

from collector.config import Settings
from collector.intake import formats, wire
from collector.intake.report import Report

# Golden report bodies as real clients send them: a copy of the project's shared/examples,
# kept in the repository so a bare clone tests the same bytes.
# Golden report bodies as real clients send them: a copy of the project's shared/examples,
# kept in the repository so a bare clone tests the same bytes.
EXAMPLES = Path(__file__).resolve().parent / "examples"


TOKEN = "test-token-0123456789"


def example(name: str) -> bytes:
    return (EXAMPLES / name).read_bytes()


def example_doc(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(example(name))
    return doc


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


def post(client: FlaskClient, body: bytes | str | dict[str, Any], *,
         content_type: str = "application/json", **kw: Any) -> Any:
    data = json.dumps(body) if isinstance(body, dict) else body
    return client.post("/v1/reports", data=data, content_type=content_type, **kw)


def snapshot(rdb: redis.Redis) -> dict[bytes, bytes | None]:
    """Every key with its serialised value: compared before and after a rejection."""
    return {k: rdb.dump(k) for k in rdb.scan_iter("*")}


def spool_files(settings: Settings) -> list[tuple[str, int]]:
    root = Path(settings.data_dir) / "spool"
    if not root.exists():
        return []
    return sorted((str(p.relative_to(root)), p.stat().st_size)
                  for p in root.rglob("*") if p.is_file() and not p.name.endswith(".lock"))


def post_chunked(client: FlaskClient, body: bytes, content_type: str = "application/json") -> Any:
    """As gunicorn presents an Android (chunked) body: no Content-Length, input terminated."""

    return client.post("/v1/reports", input_stream=io.BytesIO(body),
                       headers={"Content-Type": content_type, "Transfer-Encoding": "chunked"},
                       environ_overrides={"wsgi.input_terminated": True})


IOS_FP = "eaa82f0fbf1e1c87fb2b8c5f921bf7644a4a30f38e52b1410b0994e4d91c4a5f"


CHROME_FP = "0c8006c3dfde126f5831a9a4676105cf239bf85ad55cd3daed1069cff7319a37"


CHROME_PINS = ["FkcecKS4/1ezi5+WULXkgClhPhZo/2FBIMxCLuirxuY=",
               "GOWj8Bj2g13KpNcl+TelAozf8VPSUV6b9FWJx728SXI=",
               "3Eg0a+0XEJaNrncSZ01AbLDOBR1VlgP/J64JzoaML8U="]


GOLDEN = ("trustkit-ios.json", "trustkit-android.json", "chromium-hpkp.json", "expect-ct.json",
          "trustkit-ios-captured-2015.json")


def flush(client: FlaskClient) -> None:
    assert client.application.extensions["collector"].ingestor.flush(10)


def send(client: FlaskClient, *bodies: bytes | dict[str, Any]) -> None:
    for body in bodies:
        ctype = "application/json"
        if isinstance(body, bytes) and b"expect-ct-report" in body:
            ctype = "application/expect-ct-report+json"
        resp = post(client, body, content_type=ctype)
        assert resp.status_code == 204, resp.json
    flush(client)


def send_golden(client: FlaskClient) -> None:
    send(client, *(example(n) for n in GOLDEN))


def public_trust_ios(**changes: Any) -> dict[str, Any]:
    """A report-only iOS report whose offending chain is the public-trust Chromium chain."""
    doc = example_doc("trustkit-ios.json")
    doc["validated-certificate-chain"] = copy.deepcopy(
        example_doc("chromium-hpkp.json")["validated-certificate-chain"])
    doc.update(changes)
    return doc


def redis_text(rdb: redis.Redis) -> bytes:
    """Every key name and every stored value (not DUMP: RDB compresses long strings)."""
    db: Any = rdb  # redis-py's annotations do not know decode_responses=False
    out: list[bytes] = []
    for key in db.scan_iter("*"):
        kind = db.type(key)
        out.append(key)
        if kind == b"string":
            out.append(db.get(key) or b"")
        elif kind == b"hash":
            out.extend(k + b"=" + v for k, v in db.hgetall(key).items())
        elif kind == b"zset":
            out.extend(m for m, _ in db.zrange(key, 0, -1, withscores=True))
        elif kind == b"set":
            out.extend(db.smembers(key))
        elif kind == b"list":
            out.extend(db.lrange(key, 0, -1))
        elif kind == b"stream":  # the alert log and outbox
            for _, fields in db.xrange(key):
                out.extend(k + b"=" + v for k, v in fields.items())
        else:
            raise AssertionError(f"unexpected type {kind!r}")
    return b"\n".join(out)


def report(n: int, host: str = "api.example.com") -> Report:
    doc = wire.parse_json(example("trustkit-ios.json"))
    doc["app-vendor-id"] = f"device-{n}"
    doc["hostname"] = host
    return formats.build(doc, received_ms=int(time.time() * 1000), secret=b"s", client_addr=None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def group_alive(pgid: int) -> bool:
    """Whether any process of the process group ``pgid`` is left."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


class Served:
    def __init__(self, data_dir: Path, env: dict[str, str] | None = None,
                 workers: int = 2) -> None:
        self.port = free_port()
        self.data_dir = data_dir
        self.env = env or {}
        environ = {k: v for k, v in os.environ.items()
                   if not k.startswith("COLLECTOR_") and k != "REDIS_URL"}
        environ.update({"COLLECTOR_DATA_DIR": str(data_dir), **(env or {})})
        data_dir.mkdir(parents=True, exist_ok=True)
        self.log = data_dir.parent / f"serve-{self.port}.log"
        self._log_file = open(self.log, "wb")  # noqa: SIM115 - a pipe nobody reads would block
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "collector.cli", "serve", "--bind",
             f"127.0.0.1:{self.port}", "--workers", str(workers)],
            env=environ, stdout=self._log_file, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if self.request("GET", "/healthz")[0] == 200:
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("collector did not start")

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None, chunked: bool = False) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            if chunked and body is not None:
                conn.putrequest(method, path)
                for k, v in (headers or {}).items():
                    conn.putheader(k, v)
                conn.putheader("Transfer-Encoding", "chunked")
                conn.endheaders()
                for i in range(0, len(body), 1000):
                    part = body[i:i + 1000]
                    conn.send(f"{len(part):x}\r\n".encode() + part + b"\r\n")
                conn.send(b"0\r\n\r\n")
            else:
                conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def token(self) -> str:
        configured = self.env.get("COLLECTOR_API_TOKENS")
        if configured:
            return configured.split(",")[0].partition(":")[2] or configured.split(",")[0]
        return (self.data_dir / "api-token").read_text().strip()

    def summary(self) -> dict[str, Any]:
        status, body = self.request("GET", "/v1/summary",
                                    headers={"Authorization": f"Bearer {self.token()}"})
        assert status == 200, body
        doc: dict[str, Any] = json.loads(body)
        return doc

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=40)
        self._log_file.close()
        return self.log.read_text("utf-8", "replace")


class ReplyDropper:
    """A loopback TCP proxy in front of a redis-server: while ``dropping`` is set it swallows
    Redis's replies and cuts the connection, so the client times out on applied writes."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.dropping = threading.Event()
        self.dropped = 0
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        self._server.settimeout(0.2)
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:  # closed by close()
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            threading.Thread(target=self._pump, args=(client, upstream, False),
                             daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, True),
                             daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, replies: bool) -> None:
        try:
            while data := src.recv(65536):
                if replies and self.dropping.is_set():
                    self.dropped += 1  # applied by Redis, never seen by the client
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.close()

    def close(self) -> None:
        self._stop.set()
        self._server.close()


class Receiver:
    """An HTTP receiver on 127.0.0.1 recording every request; ``behave`` decides the answer:
    a status to send, after ``delay`` seconds (a hanging receiver delays past the timeout)."""

    def __init__(self, status: int = 204, delay: float = 0.0) -> None:
        self.status = status
        self.delay = delay
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with outer.lock:
                    outer.requests.append((self.path, dict(self.headers.items()), body))
                    status, delay = outer.status, outer.delay
                if delay:
                    time.sleep(delay)
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:  # the client gave up (timeout): nothing to answer
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def bodies(self) -> list[bytes]:
        with self.lock:
            return [body for _, _, body in self.requests]

    def set(self, status: int) -> None:
        with self.lock:
            self.status = status

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
