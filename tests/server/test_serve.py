"""End to end: `pin-collector serve` as a user runs it (real gunicorn, embedded Redis)."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import Served, example, free_port, group_alive

pytestmark = pytest.mark.e2e


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    s = Served(tmp_path / "data")
    yield s
    if s.proc.poll() is None:
        s.stop()


JSON = {"Content-Type": "application/json"}


def test_serve_end_to_end(served: Served, tmp_path: Path) -> None:
    assert served.request("POST", "/v1/reports", example("trustkit-ios.json"), JSON)[0] == 204
    status, _ = served.request("POST", "/v1/reports", example("trustkit-android.json"), JSON,
                               chunked=True)
    assert status == 204
    status, _ = served.request("POST", "/v1/reports", example("chromium-hpkp.json"),
                               {"Content-Type": "application/json; charset=utf-8"})
    assert status == 204
    status, body = served.request("POST", "/v1/reports", b"{", JSON)
    assert status == 400 and json.loads(body)["status"] == 400
    doc = served.summary()
    assert (doc["reports"], doc["hosts"], doc["chains"]) == (3, 1, 2)
    assert (tmp_path / "data" / "api-token").stat().st_mode & 0o777 == 0o600

    pgid = served.proc.pid
    redis_pid = int((tmp_path / "data" / "redis" / "redis.pid").read_text())
    output = served.stop()
    assert "generated analyst API token" in output
    assert served.proc.returncode == 0
    deadline = time.monotonic() + 10
    while group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not group_alive(pgid), "a process of the collector outlived SIGTERM"
    with pytest.raises(ProcessLookupError):
        os.kill(redis_pid, 0)

    again = Served(tmp_path / "data")
    try:
        assert again.summary()["reports"] == 3, "data did not survive a restart"
    finally:
        output = again.stop()
    assert "generated analyst API token" not in output


def test_bad_configuration_stops_start_up(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COLLECTOR_")}
    env.update({"COLLECTOR_RETENTION_DAYS": "soon", "COLLECTOR_REDIS_ULR": "x",
                "COLLECTOR_DATA_DIR": str(tmp_path)})
    proc = subprocess.run([sys.executable, "-m", "collector.cli", "serve"], env=env,
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    assert "COLLECTOR_RETENTION_DAYS" in proc.stderr
    assert "COLLECTOR_REDIS_ULR" in proc.stderr
    assert proc.stderr.count("\n") == 1


IOS_FP = "eaa82f0fbf1e1c87fb2b8c5f921bf7644a4a30f38e52b1410b0994e4d91c4a5f"
CHROME_FP = "0c8006c3dfde126f5831a9a4676105cf239bf85ad55cd3daed1069cff7319a37"


def test_replay_of_every_format_across_hosts_is_counted_exactly(served: Served) -> None:
    """As a new user would: real-client bodies for several hosts, then read at once."""
    hosts = ["a.example.com", "b.example.com", "c.example.com"]
    for host in hosts:
        for name, ctype, chunked in (
            ("trustkit-ios.json", "application/json", False),
            ("trustkit-android.json", "application/json", True),
            ("chromium-hpkp.json", "application/json; charset=utf-8", False),
            ("expect-ct.json", "application/expect-ct-report+json; charset=utf-8", False),
        ):
            doc = json.loads(example(name))
            inner = doc.get("expect-ct-report", doc)
            inner["hostname"] = host
            body = json.dumps(doc).encode()
            status, text = served.request("POST", "/v1/reports", body,
                                          {"Content-Type": ctype}, chunked=chunked)
            assert status == 204, (name, text)
    status, _ = served.request("POST", "/v1/reports", example("trustkit-ios-captured-2015.json"),
                               JSON)
    assert status == 204
    doc = served.summary()
    assert (doc["reports"], doc["hosts"], doc["chains"]) == (13, 4, 3)
    token = {"Authorization": f"Bearer {served.token()}"}
    for host in hosts:
        status, body = served.request("GET", f"/v1/hosts/{host}", headers=token)
        assert status == 200
        chains = {c["fingerprint"]: c["reports"] for c in json.loads(body)["chains"]}
        assert chains == {IOS_FP: 2, CHROME_FP: 2}


def test_an_unread_log_pipe_never_stalls_requests(tmp_path: Path) -> None:
    """Access lines go through a bounded queue: a log reader that stops reading costs lines,
    never requests (a 64 KiB pipe holds ~500 lines)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("COLLECTOR_")}
    env.update({"COLLECTOR_DATA_DIR": str(tmp_path / "data"), "COLLECTOR_API_TOKENS": "t"})
    proc = subprocess.Popen([sys.executable, "-m", "collector.cli", "serve", "--bind",
                             f"127.0.0.1:{port}"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/healthz")
                conn.getresponse().read()
                break
            except OSError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        body = example("trustkit-ios.json")
        for _ in range(1500):
            conn.request("POST", "/v1/reports", body=body, headers=JSON)
            resp = conn.getresponse()
            resp.read()
            assert resp.status == 204
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=40)
