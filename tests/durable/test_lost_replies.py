"""Redis executes a batch but the reply never arrives: the replay must not count it twice.

A loopback TCP proxy (``helpers.ReplyDropper``) in front of a real redis-server forwards every
command; while it is "dropping", it swallows Redis's replies and then cuts the connection, so
the writer times out on writes that were applied.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis

from collector.aggregates.connection import connect
from collector.aggregates.keys import Keys
from collector.aggregates.writer import ReportStore
from collector.durable.ingest import Ingestor
from collector.durable.spool import Spool
from collector.server.embedded import RedisServer
from tests.helpers import ReplyDropper, report


@pytest.mark.parametrize("fsync", ["interval", "always"])
def test_lost_replies_are_never_counted_twice(tcp_redis: tuple[RedisServer, int],
                                              tmp_path: Path, fsync: str) -> None:
    server, port = tcp_redis
    proxy = ReplyDropper(port)
    try:
        store = ReportStore(connect(f"redis://127.0.0.1:{proxy.port}/0", 0.3), Keys("pc"),
                            retention_s=86400, host_cap=200)
        ingestor = Ingestor(store, Spool(tmp_path / "spool", owner="w", fsync=fsync), "w")
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
