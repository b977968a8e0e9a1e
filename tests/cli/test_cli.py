"""The CLI: read commands through the API and straight from Redis, pin, test reports, export."""

from __future__ import annotations

import csv
import datetime
import io
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from flask.testing import FlaskClient

from collector.cli import output
from collector.cli.main import main
from collector.intake.chains import load_der, spki_pin
from collector.server.embedded import RedisServer
from tests.helpers import CHROME_FP, CHROME_PINS, EXAMPLES, IOS_FP, TOKEN, flush, send_golden


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def sources(redis_server: RedisServer, url: str) -> list[list[str]]:
    return [["--redis-url", redis_server.url], ["--url", url, "--token", TOKEN]]


def test_read_commands_through_api_and_redis(client: FlaskClient, served: str,
                                             redis_server: RedisServer,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    send_golden(client)
    for src in sources(redis_server, served):
        code, out, _ = run(capsys, "summary", *src)
        assert code == 0 and "api.example.com" in out and "REPORTS" in out
        code, out, _ = run(capsys, "summary", "--json", *src)
        assert json.loads(out)["reports"] == 5
        code, out, _ = run(capsys, "hosts", "--limit", "1", *src)
        assert code == 0 and "api.example.com" in out and "--cursor" in out
        code, out, _ = run(capsys, "hosts", "--json", "--sort", "last_seen", *src)
        assert {h["hostname"] for h in json.loads(out)["items"]} == {
            "api.example.com", "www.datatheorem.com"}
        code, out, _ = run(capsys, "host", "API.example.com", *src)
        assert code == 0 and IOS_FP in out and "report_only=" in out
        code, out, _ = run(capsys, "host", "api.example.com", "--json", *src)
        assert json.loads(out)["enforcement"]["report_only"] == 2
        code, out, _ = run(capsys, "chain", IOS_FP, *src)
        assert code == 0 and "CN=api.example.com" in out
        code, out, _ = run(capsys, "chain", IOS_FP, "--json", *src)
        assert len(json.loads(out)["certificates"]) == 2
        code, _, err = run(capsys, "host", "nothing.example", *src)
        assert code == 1 and err
        code, _, err = run(capsys, "chain", "f" * 64, *src)
        assert code == 1
        code, out, _ = run(capsys, "summary", "--since", "2999-01-01T00:00:00Z", "--json", *src)
        assert json.loads(out)["reports"] == 0


def test_api_errors_are_reported(served: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "summary", "--url", served, "--token", "wrong")
    assert code == 2 and "401" in err
    code, _, err = run(capsys, "summary", "--url", served)
    assert code == 2 and "token" in err
    code, _, err = run(capsys, "summary")
    assert code == 2 and "--url" in err


def test_env_selects_the_api(served: str, client: FlaskClient, capsys: pytest.CaptureFixture[str],
                             monkeypatch: pytest.MonkeyPatch) -> None:
    send_golden(client)
    monkeypatch.setenv("PIN_COLLECTOR_URL", served)
    monkeypatch.setenv("PIN_COLLECTOR_TOKEN", TOKEN)
    code, out, _ = run(capsys, "summary", "--json")
    assert code == 0 and json.loads(out)["hosts"] == 2


def test_export_csv_and_ndjson(client: FlaskClient, served: str, redis_server: RedisServer,
                               tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    send_golden(client)
    for src in sources(redis_server, served):
        code, out, _ = run(capsys, "export", "--format", "ndjson", *src)
        rows = [json.loads(line) for line in out.splitlines()]
        assert code == 0
        assert {r["hostname"] for r in rows if r["type"] == "host"} == {
            "api.example.com", "www.datatheorem.com"}
        assert {r["fingerprint"] for r in rows if r["type"] == "chain"} >= {IOS_FP, CHROME_FP}
        target = tmp_path / "out.csv"
        code, _, err = run(capsys, "export", "--format", "csv", "-o", str(target), *src)
        lines = target.read_text().splitlines()
        assert lines[0].startswith("type,hostname,fingerprint,reports")
        assert len(lines) == 1 + len(rows) and "exported" in err


def test_csv_cells_are_neutralised() -> None:
    out = io.StringIO()
    output.write_export([{"type": "chain", "label": v} for v in
                         ("=cmd|' /C calc'!A0", "+1", "-1", "@SUM(1)", "\tx", "\rx", "ok")],
                        "csv", out)
    labels = [row[8] for row in csv.reader(io.StringIO(out.getvalue(), newline=""))][1:]
    assert all(label.startswith("'") for label in labels[:6]), labels
    assert labels[6] == "ok"


def test_pin_from_pem_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    chain = json.loads((EXAMPLES / "chromium-hpkp.json").read_text())["validated-certificate-chain"]
    pem = tmp_path / "chain.pem"
    pem.write_text("\n".join(chain))
    code, out, _ = run(capsys, "pin", str(pem))
    assert code == 0
    for pin in CHROME_PINS:
        assert f'<pin digest="SHA-256">{pin}</pin>' in out
        assert f'@"{pin}"' in out
    assert "kTSKPublicKeyHashes" in out
    code, out, _ = run(capsys, "pin", str(pem), "--json")
    assert [c["spki_sha256"] for c in json.loads(out)] == CHROME_PINS
    code, out, _ = run(capsys, "pin", str(EXAMPLES / "public-root.pem"))
    assert CHROME_PINS[2] in out
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate")
    assert run(capsys, "pin", str(bad))[0] == 2


def _issue(subject: str, issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
           ca: bool) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    issuer_name, signer = issuer or (name, key)
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer_name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(hours=1))
               .not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
    return builder.sign(signer, hashes.SHA256()), key


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[int, list[str]]]:
    """A TLS server on 127.0.0.1 serving leaf + intermediate; yields (port, expected pins)."""
    root, root_key = _issue("Test Root", None, True)
    inter, inter_key = _issue("Test Intermediate", (root.subject, root_key), True)
    leaf, leaf_key = _issue("localhost", (inter.subject, inter_key), False)
    chain = tmp_path / "chain.pem"
    chain.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (leaf, inter)))
    key = tmp_path / "key.pem"
    key.write_bytes(leaf_key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(chain, key)
    sock = socket.create_server(("127.0.0.1", 0))
    sock.settimeout(10)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            try:
                with ctx.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1)
            except OSError:
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    pins = [spki_pin(load_der(c.public_bytes(serialization.Encoding.DER))) for c in (leaf, inter)]
    yield sock.getsockname()[1], pins
    stop.set()
    sock.close()
    thread.join(5)


def test_pin_from_a_live_server(tls_server: tuple[int, list[str]],
                                capsys: pytest.CaptureFixture[str]) -> None:
    port, pins = tls_server
    code, out, err = run(capsys, "pin", f"127.0.0.1:{port}", "--json")
    assert code == 0, err
    got = [c["spki_sha256"] for c in json.loads(out)]
    assert got[0] == pins[0]
    assert got == pins  # the full served chain (private API on 3.10-3.12, public on 3.13)
    code, out, _ = run(capsys, "pin", f"127.0.0.1:{port}")
    assert f'<pin digest="SHA-256">{pins[0]}</pin>' in out


def test_pin_unreachable_host(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, _, err = run(capsys, "pin", f"127.0.0.1:{port}", "--timeout", "2")
    assert code == 2 and "cannot fetch" in err


def test_send_test_report(served: str, client: FlaskClient,
                          capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "send-test-report", served)
    assert code == 0 and out.startswith("HTTP 204: accepted")
    code, out, _ = run(capsys, "send-test-report", served + "/v1/reports/",
                       "--hostname", "other-test.example")
    assert code == 0
    flush(client)
    # test reports are counted apart: never in reports, hosts or rankings (SPEC §5)
    summary = client.get("/v1/summary", headers={"Authorization": f"Bearer {TOKEN}"}).json
    assert summary is not None
    assert (summary["reports"], summary["hosts"], summary["test_reports"]) == (0, 0, 2)
    hosts = client.get("/v1/hosts", headers={"Authorization": f"Bearer {TOKEN}"}).json
    assert hosts is not None and hosts["items"] == []
    code, out, _ = run(capsys, "send-test-report", served, "--hostname", "bad_name!")
    assert code == 1 and out.startswith("HTTP 422: rejected")
    code, out, _ = run(capsys, "send-test-report", served + "/nothing/here/v1")
    assert code == 1 and "HTTP 404" in out


def test_chains_command_filters_and_chain_prints_pair_classes(
        client: FlaskClient, served: str, redis_server: RedisServer,
        capsys: pytest.CaptureFixture[str]) -> None:
    send_golden(client)
    for src in sources(redis_server, served):
        code, out, _ = run(capsys, "chains", "--json", *src)
        assert code == 0 and {c["fingerprint"] for c in json.loads(out)["items"]} >= {
            IOS_FP, CHROME_FP}
        code, out, _ = run(capsys, "chains", "--hostname", "API.example.com",
                           "--classification", "unknown", "--json", *src)
        items = json.loads(out)["items"]
        assert code == 0 and {c["fingerprint"] for c in items} == {IOS_FP, CHROME_FP}
        assert all(c["classification"] == "unknown" for c in items)
        code, out, _ = run(capsys, "chains", "--classification", "public-trust", "--json", *src)
        assert code == 0 and json.loads(out)["items"] == []
        code, out, _ = run(capsys, "chains", "--limit", "1", *src)
        assert code == 0 and "CLASSIFICATION" in out and "--cursor" in out
        code, _, err = run(capsys, "chains", "--classification", "bogus", *src)
        assert code == 2 and err
        code, _, err = run(capsys, "chains", "--hostname", "bad_host!", *src)
        assert code == 2 and err
        code, out, _ = run(capsys, "chain", IOS_FP, *src)
        assert code == 0 and "chain's own class" in out
        host_line = next(line for line in out.splitlines() if line.startswith("api.example.com"))
        assert host_line.split()[1:3] == ["2", "unknown"]
