"""Redis executes a batch but the reply never arrives: the replay must not count it twice.

A loopback TCP proxy in front of a real redis-server forwards every command; while it is
"dropping", it swallows Redis's replies and then cuts the connection, so the writer times
out on writes that were applied.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from collector.aggregates.connection import connect
from collector.aggregates.keys import Keys
from collector.aggregates.writer import ReportStore
from collector.durable.ingest import Ingestor
from collector.durable.spool import Spool
from collector.server.embedded import RedisServer
from tests.helpers import report


class ReplyDropper:
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


@pytest.fixture
def tcp_redis(tmp_path: Path) -> Iterator[tuple[RedisServer, int]]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = RedisServer(tmp_path / "redis", appendonly=False,
                         extra={"port": str(port), "bind": "127.0.0.1"}).start()
    yield server, port
    server.stop()


def test_lost_replies_are_never_counted_twice(tcp_redis: tuple[RedisServer, int],
                                              tmp_path: Path) -> None:
    server, port = tcp_redis
    proxy = ReplyDropper(port)
    try:
        store = ReportStore(connect(f"redis://127.0.0.1:{proxy.port}/0", 0.3), Keys("pc"),
                            retention_s=86400, host_cap=200)
        ingestor = Ingestor(store, Spool(tmp_path / "spool", owner="w"), "w")
        ingestor.start()
        sent = 0
        for round_ in range(4):
            for i in range(60):
                ingestor.submit(report(round_ * 100 + i))
                sent += 1
            proxy.dropping.set()
            time.sleep(0.4)
            proxy.dropping.clear()
        deadline = time.monotonic() + 20
        direct = redis.Redis(unix_socket_path=str(server.socket))
        while time.monotonic() < deadline:
            if int(direct.hget("pc:{g}:totals", "reports") or 0) >= sent and not ingestor.failed:
                break
            time.sleep(0.1)
        time.sleep(0.5)
        assert proxy.dropped > 0, "the proxy never dropped a reply: the test proves nothing"
        assert int(direct.hget("pc:{g}:totals", "reports") or 0) == sent
        assert int(direct.hget(Keys("pc").host("api.example.com").meta, "reports")) == sent
        ingestor.close()
    finally:
        proxy.close()
