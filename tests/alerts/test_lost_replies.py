"""Alerts across lost replies: Redis applies a host script (or an enqueue) but the writer never
hears back; the replay hands the pending events over again and the cooldown fires each once."""

from __future__ import annotations

import json
import time
from pathlib import Path

import redis

from collector.aggregates.connection import connect
from collector.aggregates.keys import Keys
from collector.aggregates.writer import ReportStore
from collector.alerts.outbox import Outbox
from collector.alerts.rules import Alerter
from collector.durable.ingest import Ingestor
from collector.durable.spool import Spool
from collector.server.embedded import RedisServer
from tests.helpers import ReplyDropper, report


def test_each_new_chain_fires_once_across_lost_replies(
        tcp_redis: tuple[RedisServer, int], tmp_path: Path) -> None:
    server, port = tcp_redis
    proxy = ReplyDropper(port)
    keys = Keys("pc")
    direct = redis.Redis(unix_socket_path=str(server.socket))
    hosts = [f"h{i}.example.com" for i in range(90)]
    try:
        client = connect(f"redis://127.0.0.1:{proxy.port}/0", 0.3)
        alerter = Alerter(client, keys, Outbox(client, keys, destinations=("webhook:0",),
                                               cooldown_s=3600),
                          rules=("new-chain",), public_url="https://pins.example")
        store = ReportStore(client, keys, retention_s=86400, host_cap=200,
                            on_events=alerter.handle)
        ingestor = Ingestor(store, Spool(tmp_path / "spool", owner="w"), "w")
        ingestor.start()
        for round_ in range(3):
            for i, host in enumerate(hosts[round_ * 30:(round_ + 1) * 30]):
                ingestor.submit(report(i, host=host))
            proxy.dropping.set()
            time.sleep(0.4)
            proxy.dropping.clear()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if int(direct.hget(keys.glob.totals, "reports") or 0) >= 90 and not ingestor.failed:
                break
            time.sleep(0.1)
        for i, host in enumerate(hosts):  # a later write hands over anything still pending
            ingestor.submit(report(1000 + i, host=host))
        assert ingestor.flush(10)
        ingestor.close()
        assert proxy.dropped > 0, "the proxy never dropped a reply: the test proves nothing"
        assert int(direct.hget(keys.glob.totals, "reports") or 0) == 180
        alerts = [json.loads(f[b"alert"]) for _, f in direct.xrange(keys.alerts.log)]
        assert sorted(a["hostname"] for a in alerts) == sorted(hosts)
        assert {a["rule"] for a in alerts} == {"new-chain"}
        assert direct.xlen(keys.alerts.outbox) == len(hosts)
        assert not [k for k in direct.scan_iter("pc:*:events")]
    finally:
        proxy.close()
        direct.close()
