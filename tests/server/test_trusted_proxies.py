"""End to end: `pin-collector serve` behind a real reverse-proxy hop (COLLECTOR_TRUSTED_PROXIES).

A small threaded HTTP proxy on loopback forwards to the collector from 127.0.0.2 (Linux
routes all of 127.0.0.0/8 to lo) and appends the client address to X-Forwarded-For, as
nginx's ``$proxy_add_x_forwarded_for`` does. The collector trusts 127.0.0.2/32 only, so the
same headers sent straight from 127.0.0.1 are an untrusted peer's and must be ignored.
"""

from __future__ import annotations

import http.client
import http.server
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from collector.aggregates.keys import Keys
from tests.helpers import Served, example_doc

pytestmark = pytest.mark.e2e

PROXY_SOURCE = "127.0.0.2"
CLIENT_HEADER = "X-Test-Client"  # the address the proxy "saw" the client connect from
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer",
              "transfer-encoding", "upgrade", "host", "content-length", CLIENT_HEADER.lower()}


class Proxy(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, upstream_port: int) -> None:
        super().__init__(("127.0.0.1", 0), ProxyHandler)
        self.upstream_port = upstream_port


class ProxyHandler(http.server.BaseHTTPRequestHandler):
    server: Proxy

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        seen = self.headers.get(CLIENT_HEADER) or self.client_address[0]
        prior = self.headers.get("X-Forwarded-For")
        headers["X-Forwarded-For"] = f"{prior}, {seen}" if prior else seen
        conn = http.client.HTTPConnection("127.0.0.1", self.server.upstream_port, timeout=10,
                                          source_address=(PROXY_SOURCE, 0))
        try:
            conn.request("POST", self.path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            self.send_response(resp.status)
            for key, value in resp.getheaders():
                if key.lower() not in HOP_BY_HOP:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        finally:
            conn.close()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[Served]:
    """One worker, so the per-worker rate-limit buckets are the collector's buckets."""
    s = Served(tmp_path / "data", env={"COLLECTOR_TRUSTED_PROXIES": f"{PROXY_SOURCE}/32",
                                       "COLLECTOR_RATE_LIMIT_PER_MINUTE": "1"}, workers=1)
    yield s
    s.stop()


@pytest.fixture
def proxy(collector: Served) -> Iterator[int]:
    server = Proxy(collector.port)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join(5)


BODY = example_doc("trustkit-ios.json")
del BODY["app-vendor-id"]  # devices fall back to the client address


def post(port: int, headers: dict[str, str]) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", "/v1/reports", body=json.dumps(BODY),
                     headers={"Content-Type": "application/json", **headers})
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


def test_forwarded_clients_through_a_trusted_proxy_are_told_apart(
        collector: Served, proxy: int) -> None:
    x, y = "198.51.100.7", "203.0.113.9"  # in different /24s: different buckets
    via = {"x": {CLIENT_HEADER: x}, "y": {CLIENT_HEADER: y}}
    # through the trusted proxy: a burst of 2 per client address, then 429
    assert [post(proxy, via["x"]) for _ in range(3)] == [204, 204, 429]
    assert post(proxy, via["y"]) == 204
    # X claiming to be Y: the proxy appends X's address, which is what counts
    assert post(proxy, {**via["x"], "X-Forwarded-For": y}) == 429
    # straight from 127.0.0.1 (untrusted): the header is ignored, one bucket for the peer
    direct = [post(collector.port, {"X-Forwarded-For": a})
              for a in ("192.0.2.1", "198.18.0.1", "192.0.2.99")]
    assert direct == [204, 204, 429]

    # five reports accepted from three devices: X, Y and the untrusted peer 127.0.0.1
    rdb = redis.Redis(unix_socket_path=str(collector.data_dir / "redis" / "redis.sock"))
    glob = Keys("pc").glob
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if int(rdb.hget(glob.totals, "reports") or 0) >= 5:
            break
        time.sleep(0.1)
    assert int(rdb.hget(glob.totals, "reports") or 0) == 5
    assert rdb.pfcount(glob.devices) == 3
    rdb.close()
