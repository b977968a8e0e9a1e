"""The CLI when its reader goes away (`| head`), and `send-test-report` (--json, the fixed
test chain, the marker intake turns into the "test-report" flag)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from collector.cli import pins
from collector.cli.main import main
from collector.intake import formats
from collector.intake.chains import parse_chain
from collector.intake.rejection import Rejection
from collector.intake.report import Report
from collector.server.embedded import RedisServer
from tests.helpers import TOKEN, flush, send_golden

SIGPIPE_STATUS = 141
REPO = Path(__file__).resolve().parents[2]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# --- a reader that goes away ---------------------------------------------------------------


def _into_closed_pipe(*argv: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI with stdout on a pipe whose reader has already gone (as `| head` ends)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("COLLECTOR_", "PIN_COLLECTOR_")) and k != "REDIS_URL"}
    try:
        return subprocess.run([sys.executable, "-m", "collector.cli", *argv], stdout=write_end,
                              stderr=subprocess.PIPE, text=True, env=env, cwd=REPO,
                              timeout=60)
    finally:
        os.close(write_end)


@pytest.mark.parametrize("argv", [["export"], ["export", "--format", "ndjson"], ["summary"],
                                  ["hosts", "--json"]])
def test_a_closed_pipe_ends_the_command_quietly(client: FlaskClient, redis_server: RedisServer,
                                                argv: list[str]) -> None:
    send_golden(client)
    proc = _into_closed_pipe(*argv, "--redis-url", redis_server.url)
    assert proc.stderr == ""  # no BrokenPipeError, no "Exception ignored" at exit
    assert proc.returncode == SIGPIPE_STATUS


def test_export_piped_into_head(client: FlaskClient, redis_server: RedisServer) -> None:
    """The pipeline from the bug report, through a real shell and a real `head`."""
    send_golden(client)
    env = {k: v for k, v in os.environ.items() if not k.startswith("COLLECTOR_")}
    env["PYTHONUNBUFFERED"] = "1"  # each row is written as it is made
    cmd = (f"{sys.executable} -m collector.cli export --format ndjson "
           f"--redis-url {redis_server.url} | head -c 1")
    proc = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True, env=env, cwd=REPO,
                          timeout=60)
    assert proc.returncode == 0 and proc.stdout == "{"
    assert "Error" not in proc.stderr and "Traceback" not in proc.stderr


class _GoneReader(io.TextIOBase):
    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_broken_pipe_in_process(monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "stdout", _GoneReader())
    code = main(["pin", str(REPO / "tests" / "examples" / "public-root.pem")])
    assert code == SIGPIPE_STATUS
    assert capsys.readouterr().err == ""


def test_other_os_errors_still_fail_loudly(capsys: pytest.CaptureFixture[str],
                                           tmp_path: Path) -> None:
    code, _, err = run(capsys, "pin", str(tmp_path / "missing.pem"))
    assert code == 2 and err


# --- send-test-report ----------------------------------------------------------------------


@pytest.fixture
def recorded(app: Flask) -> list[Report]:
    """The reports the app accepts, as intake built them."""
    ingestor = app.extensions["collector"].ingestor
    seen: list[Report] = []
    submit = ingestor.submit

    def record(report: Report) -> str:
        seen.append(report)
        path: str = submit(report)
        return path

    ingestor.submit = record
    return seen




def test_send_test_report_json(recorded: list[Report], served: str,
                               capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "send-test-report", served, "--json")
    assert code == 0, err
    assert json.loads(out) == {
        "url": served + "/v1/reports", "hostname": "pin-collector-test.example",
        "status": 204, "accepted": True,
        "meaning": pins.MEANINGS[204], "detail": None,
        "chain_fingerprint": pins.TEST_CHAIN_FINGERPRINT}
    code, out, _ = run(capsys, "send-test-report", served, "--json", "--hostname", "bad_name!")
    doc = json.loads(out)
    assert code == 1
    assert (doc["status"], doc["accepted"], doc["hostname"]) == (422, False, "bad_name!")
    assert doc["detail"]


def test_test_reports_are_flagged_and_use_one_fixed_chain(
        served: str, client: FlaskClient, recorded: list[Report],
        capsys: pytest.CaptureFixture[str]) -> None:
    for host in ("pin-collector-test.example", "other.example", "pin-collector-test.example"):
        code, _, err = run(capsys, "send-test-report", served, "--hostname", host)
        assert code == 0, err
    assert len(recorded) == 3
    assert all("test-report" in r.flags for r in recorded)
    assert {r.chain.fingerprint for r in recorded} == {pins.TEST_CHAIN_FINGERPRINT}
    flush(client)
    summary = client.get("/v1/summary", headers={"Authorization": f"Bearer {TOKEN}"}).json
    assert summary is not None
    assert (summary["reports"], summary["chains"], summary["test_reports"]) == (0, 0, 3)


def test_the_test_chain_is_fixed() -> None:
    chain = parse_chain((pins.TEST_CERTIFICATE,))
    assert chain.fingerprint == pins.TEST_CHAIN_FINGERPRINT
    cert = chain.certificates[0]
    assert cert.subject == cert.issuer  # self-signed, no real key behind it
    assert cert.subject.rfc4514_string() == "CN=pin-collector test report,O=pin-collector"
    a = pins.sample_report("a.example")
    b = pins.sample_report("b.example")
    assert a["validated-certificate-chain"] == b["validated-certificate-chain"]
    assert a["pin-collector-test"] is True


def _build(doc: dict[str, object]) -> Report:
    return formats.build(doc, received_ms=0, secret=b"k", client_addr=None)


def test_the_marker_sets_the_flag() -> None:
    doc = pins.sample_report("pin-collector-test.example")
    assert "test-report" in _build(doc).flags
    assert _build({**doc, "pin-collector-test": False}).flags == ()
    del doc["pin-collector-test"]
    assert "test-report" not in _build(doc).flags


@pytest.mark.parametrize("value", ["true", 1, None, [], {}])
def test_the_marker_is_a_strict_boolean(value: object) -> None:
    doc = {**pins.sample_report("pin-collector-test.example"), "pin-collector-test": value}
    if value is None:  # null is "not said", as for every optional key
        assert "test-report" not in _build(doc).flags
        return
    with pytest.raises(Rejection) as info:
        _build(doc)
    assert info.value.status == 422
    assert "pin-collector-test" in (info.value.errors or {})
