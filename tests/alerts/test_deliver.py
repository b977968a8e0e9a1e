"""Alert delivery: a real redis-server outbox, real HTTP receivers on 127.0.0.1, no mocks.

Entries are written into the outbox here (XADD, in the format of the contract) so these tests
do not depend on the rules that enqueue them. Backoff is shrunk with ``backoff_scale`` and the
day limit with an injected wall clock, so nothing waits minutes.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from flask import Flask

from collector import create_app
from collector.aggregates.keys import Keys
from collector.alerts import backoff
from collector.alerts.deliver import GROUP, Deliverer
from collector.alerts.destinations import Destination, destinations, redact, slack_text
from collector.config import Settings
from collector.server.embedded import RedisServer
from collector.web import metrics
from tests.helpers import Receiver

SECRET = "whsec-test-0123"
RULE = "new-public-trust-chain"
DAY_MS = 86_400_000


@pytest.fixture
def receivers() -> Iterator[Callable[..., Receiver]]:
    made: list[Receiver] = []

    def make(status: int = 204, delay: float = 0.0) -> Receiver:
        made.append(Receiver(status, delay))
        return made[-1]

    yield make
    for receiver in made:
        receiver.stop()


@pytest.fixture
def outbox(keys: Keys) -> str:
    return keys.alerts.outbox


@pytest.fixture
def deliverers(redis_server: RedisServer, outbox: str) -> Iterator[Callable[..., Deliverer]]:
    """Deliverers on their own clients (as wiring builds them), closed after the test."""
    made: list[Deliverer] = []

    def make(dests: list[Destination], consumer: str = "worker-1", **kw: Any) -> Deliverer:
        kw = {"block_ms": 100, "scan_s": 0.05, "backoff_scale": 0.05, **kw}
        client = redis.Redis.from_url(redis_server.url, socket_timeout=5)
        deliverer = Deliverer(client, outbox, dests, consumer, **kw)
        made.append(deliverer)
        deliverer.start()
        return deliverer

    yield make
    for deliverer in made:
        deliverer.close(timeout=5)


def alert(n: int = 0, rule: str = RULE, hostname: str = "api.example.com") -> bytes:
    doc = {"id": f"{n:032x}", "rule": rule, "hostname": hostname,
           "fingerprint": f"{n:064x}", "classification": "public-trust", "label": None,
           "reports": 3, "devices": 2, "first_seen": "2026-12-01T10:00:00Z",
           "fired_at": "2026-12-01T10:00:01Z",
           "url": f"http://collector.example/hosts/{hostname}"}
    return json.dumps(doc, separators=(",", ":")).encode()


def enqueue(rdb: redis.Redis, outbox: str, dest: str, body: bytes, entry: str = "*") -> str:
    doc = json.loads(body)
    added = rdb.xadd(outbox, {"id": doc["id"], "dest": dest, "alert": body}, id=entry)
    return added.decode() if isinstance(added, bytes) else str(added)


def wait_for(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def pending(rdb: redis.Redis, outbox: str) -> int:
    """Entries read but not acknowledged; -1 before the deliverer made its group."""
    try:
        return int(rdb.xpending(outbox, GROUP)["pending"])
    except redis.ResponseError:
        return -1


def test_webhook_gets_each_alert_once_signed(rdb: redis.Redis, outbox: str,
                                             receivers: Callable[..., Receiver],
                                             deliverers: Callable[..., Deliverer]) -> None:
    hook = receivers()
    deliverer = deliverers(destinations([hook.url], [], SECRET, timeout=2))
    sent = [alert(1), alert(2)]
    for body in sent:
        enqueue(rdb, outbox, "webhook:0", body)
    wait_for(lambda: len(hook.bodies()) == 2 and pending(rdb, outbox) == 0)
    time.sleep(0.5)  # several retry scans later: nothing is sent twice
    assert sorted(hook.bodies()) == sorted(sent)
    for path, headers, body in hook.requests:
        assert path == "/hook"
        assert headers["Content-Type"] == "application/json"
        mac = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["X-Pin-Collector-Signature"], f"sha256={mac}")
    assert pending(rdb, outbox) == 0
    assert deliverer.stats.snapshot() == {("delivered", RULE, "webhook:0"): 2}


def test_no_signature_without_a_secret(rdb: redis.Redis, outbox: str,
                                       receivers: Callable[..., Receiver],
                                       deliverers: Callable[..., Deliverer]) -> None:
    hook = receivers()
    deliverers(destinations([hook.url], []))
    enqueue(rdb, outbox, "webhook:0", alert())
    wait_for(lambda: len(hook.requests) == 1)
    assert "X-Pin-Collector-Signature" not in hook.requests[0][1]


def test_receiver_down_gets_every_alert_when_back(rdb: redis.Redis, outbox: str,
                                                  receivers: Callable[..., Receiver],
                                                  deliverers: Callable[..., Deliverer]) -> None:
    hook = receivers(status=500)
    deliverer = deliverers(destinations([hook.url], [], SECRET, timeout=2))
    sent = [alert(n) for n in range(3)]
    for body in sent:
        enqueue(rdb, outbox, "webhook:0", body)
    wait_for(lambda: len(hook.requests) >= 9)  # each alert tried 3 times at least
    assert pending(rdb, outbox) == 3  # nothing acknowledged while the receiver fails
    hook.set(204)
    back = time.monotonic()
    wait_for(lambda: pending(rdb, outbox) == 0)
    assert time.monotonic() - back < 5  # within (scaled) seconds of coming back
    bodies = hook.bodies()
    assert set(bodies) == set(sent)
    stats = deliverer.stats.snapshot()
    assert stats[("delivered", RULE, "webhook:0")] == 3
    assert stats[("retried", RULE, "webhook:0")] >= 6
    # the backoff grew: far fewer attempts than one per scan
    assert len(bodies) < 3 * 20


def test_hanging_receiver_does_not_stop_other_destinations(
        rdb: redis.Redis, outbox: str, receivers: Callable[..., Receiver],
        deliverers: Callable[..., Deliverer]) -> None:
    hanging = receivers(delay=30)
    slow = receivers(delay=0.3)
    fine = receivers()
    slack = receivers()
    deliverer = deliverers(destinations([hanging.url, slow.url, fine.url], [slack.url], SECRET,
                                        timeout=1.0))
    for n in range(5):
        enqueue(rdb, outbox, "webhook:0", alert(n))
    start = time.monotonic()
    for n in range(5):
        enqueue(rdb, outbox, "webhook:1", alert(n))
        enqueue(rdb, outbox, "webhook:2", alert(n))
        enqueue(rdb, outbox, "slack:0", alert(n))
    wait_for(lambda: len(fine.requests) == 5 and len(slack.requests) == 5
             and len(slow.requests) == 5)
    # five hanging attempts in a row would take 5 s: the others never waited for them
    assert time.monotonic() - start < 4
    wait_for(lambda: pending(rdb, outbox) == 5)  # only the hanging receiver's are left
    stats = deliverer.stats.snapshot()
    for dest in ("webhook:1", "webhook:2", "slack:0"):
        assert stats[("delivered", RULE, dest)] == 5
    assert ("delivered", RULE, "webhook:0") not in stats


def test_slack_body_is_text_only(rdb: redis.Redis, outbox: str,
                                 receivers: Callable[..., Receiver],
                                 deliverers: Callable[..., Deliverer]) -> None:
    slack = receivers(status=200)
    deliverers(destinations([], [slack.url], SECRET))
    body = alert(7, hostname="pay.example.com")
    enqueue(rdb, outbox, "slack:0", body)
    wait_for(lambda: pending(rdb, outbox) == 0 and len(slack.requests) == 1)
    _, headers, sent = slack.requests[0]
    doc = json.loads(sent)
    assert list(doc) == ["text"]
    assert isinstance(doc["text"], str)
    assert "pay.example.com" in doc["text"]
    assert "<http://collector.example/hosts/pay.example.com|" in doc["text"]
    assert "public-trust" in doc["text"]
    assert headers["Content-Type"] == "application/json"
    assert "X-Pin-Collector-Signature" not in headers  # signatures are for generic webhooks


def test_slack_text_escapes_markup() -> None:
    doc = json.loads(alert())
    doc["label"] = "<!channel> & co"
    text = slack_text(doc)
    assert "<!channel>" not in text
    assert "&lt;!channel&gt; &amp; co" in text


def test_entries_older_than_a_day_are_dropped_and_counted(
        rdb: redis.Redis, outbox: str, receivers: Callable[..., Receiver],
        deliverers: Callable[..., Deliverer]) -> None:
    down = receivers(status=503)
    fine = receivers()
    shift = [0.0]
    deliverer = deliverers(destinations([down.url, fine.url], []),
                           wall=lambda: time.time() + shift[0])
    # enqueued two days ago (the deliverer was not running): never sent
    enqueue(rdb, outbox, "webhook:1", alert(1),
                    entry=f"{int(time.time() * 1000) - 2 * DAY_MS}-0")
    # enqueued now, its receiver down until the clock passes a day
    enqueue(rdb, outbox, "webhook:0", alert(2, rule="new-chain"))
    wait_for(lambda: len(down.requests) >= 2)
    shift[0] = DAY_MS / 1000 + 60
    wait_for(lambda: pending(rdb, outbox) == 0)
    attempts = len(down.requests)
    time.sleep(0.3)
    assert len(down.requests) == attempts  # given up: no more attempts
    assert fine.requests == []
    stats = deliverer.stats.snapshot()
    assert stats[("dropped", RULE, "webhook:1")] == 1
    assert stats[("dropped", "new-chain", "webhook:0")] == 1
    assert ("delivered", RULE, "webhook:1") not in stats


def test_outbox_trimmed_past_a_day(rdb: redis.Redis, outbox: str,
                                   receivers: Callable[..., Receiver],
                                   deliverers: Callable[..., Deliverer]) -> None:
    fine = receivers()
    old = int(time.time() * 1000) - 3 * DAY_MS
    for n in range(3):
        enqueue(rdb, outbox, "webhook:0", alert(n), entry=f"{old + n}-0")
    enqueue(rdb, outbox, "webhook:0", alert(9))
    deliverers(destinations([fine.url], []))
    wait_for(lambda: len(fine.requests) == 1 and pending(rdb, outbox) == 0)
    wait_for(lambda: rdb.xlen(outbox) == 1)
    assert fine.bodies() == [alert(9)]


def test_a_dead_workers_entries_are_delivered_by_another(
        rdb: redis.Redis, outbox: str, receivers: Callable[..., Receiver],
        deliverers: Callable[..., Deliverer]) -> None:
    hook = receivers()
    rdb.xgroup_create(outbox, GROUP, id="0", mkstream=True)
    enqueue(rdb, outbox, "webhook:0", alert(1))
    # a worker read it, then was killed before sending: it stays pending under its name
    assert rdb.xreadgroup(GROUP, "dead-worker", {outbox: ">"}, count=10)
    deliverers(destinations([hook.url], []), consumer="worker-2", orphan_s=0.3)
    wait_for(lambda: pending(rdb, outbox) == 0)
    assert hook.bodies() == [alert(1)]


def test_outbox_lost_with_redis_is_recreated(rdb: redis.Redis, outbox: str,
                                              receivers: Callable[..., Receiver],
                                              deliverers: Callable[..., Deliverer]) -> None:
    hook = receivers()
    deliverers(destinations([hook.url], []))
    enqueue(rdb, outbox, "webhook:0", alert(1))
    wait_for(lambda: len(hook.requests) == 1 and pending(rdb, outbox) == 0)
    rdb.flushall()  # a Redis restarted without persistence: stream and group are gone
    time.sleep(0.3)
    enqueue(rdb, outbox, "webhook:0", alert(2))
    wait_for(lambda: len(hook.requests) == 2 and pending(rdb, outbox) == 0)
    assert hook.bodies() == [alert(1), alert(2)]


def test_logs_never_show_a_url(rdb: redis.Redis, outbox: str,
                               receivers: Callable[..., Receiver],
                               deliverers: Callable[..., Deliverer],
                               caplog: pytest.LogCaptureFixture) -> None:
    failing = receivers(status=500)
    port = failing.server.server_address[1]
    secret_url = f"http://hook-user:hunter2@127.0.0.1:{port}/hook/T0KEN?sig=qsecret"
    closed = Receiver()
    closed.stop()  # nothing listens there any more: connection refused
    refused_url = closed.url.replace("/hook", "/services/XYZSECRET")
    dests = destinations([secret_url, refused_url], [f"http://127.0.0.1:{port}/slackSECRET"])
    assert "hunter2" not in repr(dests) and "SECRET" not in repr(dests)
    caplog.set_level(logging.DEBUG, logger="collector.alerts")
    deliverers(dests)
    for dest in ("webhook:0", "webhook:1", "slack:0"):
        enqueue(rdb, outbox, dest, alert())
    wait_for(lambda: len(failing.requests) >= 4)
    time.sleep(0.2)
    text = caplog.text
    for leak in ("hunter2", "hook-user", "T0KEN", "qsecret", "SECRET", "127.0.0.1", "/hook"):
        assert leak not in text
    for dest in ("webhook:0", "webhook:1", "slack:0"):
        assert f"delivery to {dest} failed" in text
    # the URL's user info went out as Basic authentication, not in the request line
    sent = [(path, headers) for path, headers, _ in failing.requests
            if path.startswith("/hook/")]
    assert sent[0][0] == "/hook/T0KEN?sig=qsecret"
    assert sent[0][1]["Authorization"] == "Basic " + base64.b64encode(
        b"hook-user:hunter2").decode()
    assert redact(secret_url) == f"http://127.0.0.1:{port}/hook/T0KEN"


def test_backoff_schedule() -> None:
    first = [backoff.delay(1, f"{n}-0") for n in range(100)]
    assert all(1.6 <= d <= 2.0 for d in first)  # the first retry within 2 s
    assert len(set(first)) > 50  # jittered
    assert backoff.delay(1, "5-0") == backoff.delay(1, "5-0")  # stable per entry and attempt
    assert 3.2 <= backoff.delay(2, "1-0") <= 4.0
    assert all(240 <= backoff.delay(n, "1-0") <= 300 for n in (9, 10, 40, 1000))


def test_metrics_publish_alert_totals(rdb: redis.Redis, outbox: str,
                                      receivers: Callable[..., Receiver],
                                      deliverers: Callable[..., Deliverer]) -> None:
    hook = receivers()
    deliverer = deliverers(destinations([hook.url], []))

    @dataclasses.dataclass(eq=False)
    class Fired:
        fired: dict[str, int]

    fired = Fired({RULE: 0})

    def value(name: str, **labels: str) -> float:
        return metrics.REGISTRY.get_sample_value(name, labels) or 0.0

    delivered = "pin_collector_alerts_delivered_total"
    before = value(delivered, rule=RULE, destination="webhook:0")
    before_fired = value("pin_collector_alerts_fired_total", rule=RULE)
    enqueue(rdb, outbox, "webhook:0", alert(1))
    enqueue(rdb, outbox, "webhook:0", alert(2))
    fired.fired[RULE] = 2
    wait_for(lambda: pending(rdb, outbox) == 0 and len(hook.requests) == 2)
    metrics.sync_alerts(deliverer.stats, fired)
    metrics.sync_alerts(deliverer.stats, fired)  # a second sync adds nothing
    assert value(delivered, rule=RULE, destination="webhook:0") == before + 2
    assert value("pin_collector_alerts_fired_total", rule=RULE) == before_fired + 2


def test_app_starts_and_closes_a_deliverer(settings: Settings, rdb: redis.Redis, outbox: str,
                                           receivers: Callable[..., Receiver]) -> None:
    hook = receivers()
    app: Flask = create_app(dataclasses.replace(
        settings, alert_webhooks=(hook.url,), alert_webhook_secret=SECRET))
    svc = app.extensions["collector"]
    try:
        assert svc.deliverer is not None
        enqueue(rdb, outbox, "webhook:0", alert(3))
        wait_for(lambda: len(hook.requests) == 1 and pending(rdb, outbox) == 0)
    finally:
        svc.deliverer.close()
        svc.ingestor.close()
    assert not any(t.is_alive() for t in svc.deliverer._threads)


def test_no_destination_no_deliverer(app: Flask) -> None:
    assert app.extensions["collector"].deliverer is None
