"""Operations: /metrics (bounded labels, multiprocess mode), /readyz and the access log."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from collector import create_app
from collector.config import Settings
from collector.durable import ingest as ingest_mod
from collector.durable.ingest import IngestStats
from collector.web import metrics
from tests.helpers import auth, example, flush, post

ROOT = Path(__file__).resolve().parents[2]


def samples(client: FlaskClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    resp = client.get("/metrics")
    assert resp.status_code == 200
    assert resp.content_type.startswith("text/plain")
    out = {}
    for family in text_string_to_metric_families(resp.get_data(as_text=True)):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_metrics_count_accepted_rejected_and_durations(client: FlaskClient) -> None:
    before = samples(client)
    assert post(client, example("trustkit-ios.json")).status_code == 204
    assert post(client, b"{nope").status_code == 400
    assert post(client, b"{}", content_type="text/plain").status_code == 415
    assert post(client, {"hostname": "x.example"}).status_code == 422
    client.get("/v1/summary", headers=auth())
    client.get("/v1/hosts/api.example.com", headers=auth())
    flush(client)
    after = samples(client)

    def delta(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    accepted = sum(delta("pin_collector_reports_accepted_total", path=p)
                   for p in ("redis", "spool"))
    assert accepted == 1
    # the background writer took it in one batch (the mean batch size is the ratio)
    assert delta("pin_collector_writer_batches_total") == 1
    assert delta("pin_collector_writer_batched_reports_total") == 1
    for reason in ("malformed-json", "unsupported-media-type", "invalid-report"):
        assert delta("pin_collector_reports_rejected_total", reason=reason) == 1, reason
    assert delta("pin_collector_http_request_duration_seconds_count",
                 endpoint="api.post_report") == 4
    assert delta("pin_collector_http_request_duration_seconds_count", endpoint="api.host") == 1
    assert delta("pin_collector_http_requests_total", endpoint="api.summary", status="200") == 1
    names = {name for name, _ in after}
    assert {"pin_collector_spool_bytes", "pin_collector_spool_segments",
            "pin_collector_spool_oldest_age_seconds", "pin_collector_degraded",
            "pin_collector_dead_lettered_total", "pin_collector_spool_replayed_total"} <= names
    # Labels stay bounded: no hostname, path or token ever becomes a label value.
    values = {v for _, labels in after for _, v in labels}
    assert not any("example" in v or "/" in v for v in values), values


def test_unmatched_routes_share_one_label(client: FlaskClient) -> None:
    for i in range(3):
        client.get(f"/no/such/{i}")
    text = client.get("/metrics").get_data(as_text=True)
    assert 'endpoint="unmatched"' in text
    assert "/no/such" not in text


def test_sync_ingestor_turns_totals_into_deltas() -> None:
    class Fake:
        stats = IngestStats()

    fake = Fake()
    before = metrics.REPLAYED._value.get()
    fake.stats.replayed = 5
    metrics.sync_ingestor(fake)  # type: ignore[arg-type]
    fake.stats.replayed = 7
    fake.stats.redis_errors = {"TimeoutError": 2}
    metrics.sync_ingestor(fake)  # type: ignore[arg-type]
    metrics.sync_ingestor(fake)  # type: ignore[arg-type]
    assert metrics.REPLAYED._value.get() - before == 7
    assert metrics.error_kind("ConnectionError") == "connection"
    assert metrics.reason_label("made-up-reason") == "other"
    assert metrics.endpoint_label("api.host") == "api.host"
    assert metrics.endpoint_label("/v1/x") == "unmatched"


def test_each_worker_publishes_its_totals_without_being_scraped(app: Flask) -> None:
    """A scrape reaches one worker; the others' replays must still be on /metrics."""
    ingestor = app.extensions["collector"].ingestor
    before = metrics.REPLAYED._value.get()
    ingestor.stats.replayed += 3
    deadline = time.monotonic() + 5 * ingest_mod.TICK_S
    while metrics.REPLAYED._value.get() - before < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert metrics.REPLAYED._value.get() - before == 3


def test_multiprocess_mode_sums_every_worker(tmp_path: Path) -> None:
    """As under gunicorn: each process writes its own files, any one of them reports all."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    worker = "from collector.web import metrics; metrics.ACCEPTED.labels('redis').inc(3)"
    for _ in range(2):
        subprocess.run([sys.executable, "-c", worker], env=env, check=True, timeout=60)
    scrape = textwrap.dedent("""
        from collector.web import metrics
        from collector.durable.ingest import IngestStats
        from collector.durable.spool import SpoolStats
        class Spool:
            def depth(self): return SpoolStats(10, 1, 2.5, 0)
        class Ingestor:
            stats, spool, degraded = IngestStats(), Spool(), False
        print(metrics.render(Ingestor()).decode())
    """)
    out = subprocess.run([sys.executable, "-c", scrape], env=env, check=True, timeout=60,
                         capture_output=True, text=True).stdout
    assert 'pin_collector_reports_accepted_total{path="redis"} 6.0' in out
    assert "pin_collector_spool_bytes 10.0" in out


def test_readyz_ready(client: FlaskClient) -> None:
    resp = client.get("/readyz")
    assert resp.status_code == 200 and resp.json is not None
    assert resp.json["status"] == "ready" and resp.json["reasons"] == []
    assert resp.json["spool"]["max_bytes"] > 0


@pytest.fixture
def dead_redis_client(settings: Settings, tmp_path: Path) -> Iterator[FlaskClient]:
    app = create_app(dataclasses.replace(settings, redis_url=f"unix://{tmp_path}/none.sock"))
    yield app.test_client()
    app.extensions["collector"].ingestor.close(timeout=1)


def test_readyz_not_ready_without_redis(dead_redis_client: FlaskClient) -> None:
    resp = dead_redis_client.get("/readyz")
    assert resp.status_code == 503 and resp.json is not None
    assert resp.json["status"] == "degraded"
    assert "redis_unreachable" in resp.json["reasons"]
    assert dead_redis_client.get("/healthz").status_code == 200
    assert dead_redis_client.get("/metrics").status_code == 200
    for path in ("/v1/summary", "/v1/hosts", "/v1/hosts/api.example.com", "/v1/chains"):
        resp = dead_redis_client.get(path, headers=auth())
        assert resp.status_code == 503, path  # documented in the OpenAPI document
        assert resp.content_type == "application/problem+json"


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_one_json_access_line_per_request_without_secrets(client: FlaskClient) -> None:
    handler = _Lines()
    logger = logging.getLogger("collector.access")
    logger.addHandler(handler)
    try:
        body = json.loads(example("trustkit-ios.json"))
        body["app-version"] = "MARKER-in-body"
        post(client, body, headers={"X-Secret": "MARKER-in-header"})
        post(client, b'{"MARKER-in-bad-body": ', headers={"Authorization": "Bearer MARKER-tok"})
        client.get("/v1/summary?since=MARKER-in-query", headers={"Authorization": "Bearer x"})
        client.get("/v1/hosts/api.example.com", headers=auth())
    finally:
        logger.removeHandler(handler)
    assert len(handler.lines) == 4
    assert not any("MARKER" in line for line in handler.lines)
    docs = [json.loads(line) for line in handler.lines]
    assert [d["status"] for d in docs] == [204, 400, 401, 200]
    assert docs[0]["route"] == "/v1/reports" and docs[0]["method"] == "POST"
    assert docs[1]["reason"] == "malformed-json"
    assert docs[2]["reason"] == "unauthorized"
    assert docs[3]["endpoint"] == "api.host" and docs[3]["route"] == "/v1/hosts/<hostname>"
    assert all(d["duration_ms"] >= 0 for d in docs)


def test_dropped_access_log_lines_are_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    """A log reader that falls behind loses lines: /metrics says how many."""
    from collector.web import accesslog as logs

    name = "pin_collector_log_lines_dropped_total"
    before = metrics.REGISTRY.get_sample_value(name) or 0.0
    monkeypatch.setattr(logs, "MAX_BUFFERED", 3)
    read, write = os.pipe()
    try:
        sink = logs.BufferedSink(write)
        monkeypatch.setattr(sink, "_start", lambda: None)  # no writer thread: lines pile up
        for i in range(5):
            sink.write(f"line {i}")
        assert list(sink.lines) == ["line 0", "line 1", "line 2"]
        assert sink.dropped == 2
        assert metrics.REGISTRY.get_sample_value(name) == before + 2
        sink.flush()
        assert os.read(read, 100) == b"line 0\nline 1\nline 2\n"
    finally:
        os.close(read)
        os.close(write)
