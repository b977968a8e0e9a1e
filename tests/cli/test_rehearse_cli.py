"""`pin-collector rehearse` and `inventory`: a release pipeline gates a rotation on the exit
status, through the API or Redis, from a PEM file or a live TLS server (started here)."""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from flask.testing import FlaskClient

from collector.cli.main import main
from collector.intake.chains import spki_pin
from collector.server.embedded import RedisServer
from tests.helpers import TOKEN, flush, post
from tests.intel.pki import pem
from tests.rotation import HOST, Rotation, trustkit_doc

CLI = str(Path(sys.executable).parent / "pin-collector")


@pytest.fixture(scope="module")
def rot() -> Rotation:
    return Rotation()


@pytest.fixture
def field(client: FlaskClient, rot: Rotation) -> FlaskClient:
    for version, platform, pins, devices in rot.builds():
        for i in range(devices):
            doc = trustkit_doc(version, platform, pins, f"{platform}-{version}-{i}")
            assert post(client, doc).status_code == 204
    flush(client)
    return client


@pytest.fixture
def chains(tmp_path: Path, rot: Rotation) -> dict[str, Path]:
    out = {}
    for name, body in (("current", rot.current), ("same-ca", rot.same_ca),
                       ("other-ca", rot.other_ca)):
        out[name] = tmp_path / f"{name}.pem"
        out[name].write_bytes(body)
    return out


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_a_release_pipeline_gates_on_the_exit_status(
        field: FlaskClient, served: str, chains: dict[str, Path], tmp_path: Path) -> None:
    """The command as a pipeline step runs it: a subprocess, `&&` on its status."""
    script = tmp_path / "release.sh"
    script.write_text(
        "set -u\n"
        f'"{CLI}" rehearse "$1" --host {HOST} --url "$URL" --token "$TOKEN" > "$2"'
        " && echo ROTATE || echo BLOCKED\n")
    env = {**os.environ, "URL": served, "TOKEN": TOKEN}
    verdicts = {}
    for name, path in chains.items():
        out = tmp_path / f"{name}.txt"
        done = subprocess.run(["sh", str(script), str(path), str(out)], env=env,
                              capture_output=True, text=True, timeout=60, check=True)
        verdicts[name] = done.stdout.strip()
        if name == "other-ca":
            report = out.read_text()
            assert "WOULD FAIL: 3 of 4 app versions seen would refuse this chain, on 17 " \
                   "devices" in report
    assert verdicts == {"current": "ROTATE", "same-ca": "BLOCKED", "other-ca": "BLOCKED"}
    done = subprocess.run([CLI, "rehearse", str(chains["same-ca"]), "--host", HOST, "--url",
                           served, "--token", TOKEN, "--json"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 1
    doc = json.loads(done.stdout)
    assert doc["devices_that_would_fail"] == 5 and doc["would_fail"] is True


def test_the_same_answer_straight_from_redis(
        field: FlaskClient, served: str, redis_server: RedisServer, chains: dict[str, Path],
        capsys: pytest.CaptureFixture[str]) -> None:
    answers = []
    for source in (["--redis-url", redis_server.url], ["--url", served, "--token", TOKEN]):
        code, out, _ = run(capsys, "rehearse", str(chains["other-ca"]), "--host", HOST,
                           "--json", *source)
        assert code == 1
        answers.append(json.loads(out))
        code, out, _ = run(capsys, "rehearse", str(chains["current"]), "--host", HOST, *source)
        assert code == 0 and "OK: every app version seen (4) would accept" in out
        code, out, _ = run(capsys, "rehearse", str(chains["other-ca"]), "--host", HOST,
                           "--until", "2001-01-01T00:00:00Z", *source)
        assert code == 0  # nothing seen in that window
    assert answers[0] == answers[1]


def test_a_chain_fetched_from_a_live_server(
        field: FlaskClient, served: str, rot: Rotation, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    chain, key = tmp_path / "served.pem", tmp_path / "served.key"
    chain.write_bytes(rot.other_ca)
    key.write_bytes(rot.keys["b"].private_bytes(serialization.Encoding.PEM,
                                                serialization.PrivateFormat.PKCS8,
                                                serialization.NoEncryption()))
    with TlsServer(chain, key) as port:
        code, out, _ = run(capsys, "rehearse", "--connect", f"127.0.0.1:{port}", "--host",
                           HOST, "--url", served, "--token", TOKEN, "--json")
    assert code == 1
    doc = json.loads(out)
    assert [c["spki_sha256"] for c in doc["chain"]["certificates"]] == [
        spki_pin(rot.leaf_b), spki_pin(rot.int_b)]
    assert doc["devices_that_would_fail"] == 17


def test_usage_and_input_problems_exit_2_and_an_unknown_host_1(
        field: FlaskClient, served: str, chains: dict[str, Path], tmp_path: Path,
        rot: Rotation, capsys: pytest.CaptureFixture[str]) -> None:
    api = ["--url", served, "--token", TOKEN]
    keyed = tmp_path / "with-key.pem"
    keyed.write_bytes(pem(rot.leaf_b) + rot.keys["b"].private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    eleven = tmp_path / "eleven.pem"
    eleven.write_bytes(pem(rot.leaf_a1) * 11)
    cases = [
        (["rehearse", "--host", HOST, *api], "one of them"),
        (["rehearse", str(chains["current"]), "--connect", "127.0.0.1:1", "--host", HOST,
          *api], "one of them"),
        (["rehearse", str(keyed), "--host", HOST, *api], "private key"),
        (["rehearse", str(eleven), "--host", HOST, *api], "1 to 10"),
        (["rehearse", str(tmp_path / "missing.pem"), "--host", HOST, *api], "cannot read"),
        (["rehearse", str(chains["current"]), "--host", "not a host", *api], "not a hostname"),
        (["rehearse", str(chains["current"]), "--host", HOST], "say where to read"),
    ]
    for argv, message in cases:
        code, out, err = run(capsys, *argv)
        assert (code, out) == (2, ""), argv
        assert message in err, (argv, err)
        assert "BEGIN" not in err
    code, _, err = run(capsys, "rehearse", str(chains["current"]), "--host",
                       "never.example.com", *api)
    assert code == 1 and "404" in err


def test_inventory_command(field: FlaskClient, served: str, redis_server: RedisServer,
                           capsys: pytest.CaptureFixture[str], rot: Rotation) -> None:
    code, out, _ = run(capsys, "inventory", "--host", HOST, "--url", served, "--token", TOKEN)
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == f"{HOST}: 4 app versions in the field, 29 devices, 29 reports"
    assert any("1.0" in line and spki_pin(rot.leaf_a1) in line and "yes" in line
               for line in lines)
    assert any("ANDROID" in line and " NO " in line for line in lines)  # no backup pin
    code, out, _ = run(capsys, "inventory", "--host", HOST, "--redis-url", redis_server.url,
                       "--json")
    assert code == 0 and len(json.loads(out)["versions"]) == 4
    code, _, _ = run(capsys, "inventory", "--host", "never.example.com", "--redis-url",
                     redis_server.url)
    assert code == 1


class TlsServer:
    """A TLS server on 127.0.0.1 sending ``chain``, for as long as the block runs."""

    def __init__(self, chain: Path, key: Path) -> None:
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(chain, key)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(10)
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            try:
                with self.ctx.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1)
            except OSError:
                pass

    def __enter__(self) -> int:
        self.thread.start()
        port: int = self.sock.getsockname()[1]
        return port

    def __exit__(self, *exc: object) -> None:
        self.sock.close()
        self.thread.join(5)
