"""Behind a real nginx (Debian's package) running the shipped deploy/nginx/pin-collector.conf.

TLS with a throwaway certificate, chunked bodies as TrustKit Android sends them, and
X-Forwarded-For: clients connect from two loopback addresses in different /24s
(127.0.1.2 and 127.0.2.3; Linux routes all of 127/8 to lo) while nginx reaches the
collector from 127.0.0.1, the one address in COLLECTOR_TRUSTED_PROXIES. Only the upstream
address, the listen address and the certificate paths of the shipped file are changed, and
each change must hit exactly one line, so the test runs the file operators deploy.
"""

from __future__ import annotations

import datetime
import http.client
import ipaddress
import json
import shutil
import signal
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.helpers import Served, example, example_doc, free_port

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "deploy" / "nginx" / "pin-collector.conf"
CLIENT_A, CLIENT_B = "127.0.1.2", "127.0.2.3"


def nginx_binary() -> str:
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    assert found, "nginx is missing: .ci/system-deps installs Debian's nginx-light"
    return found


def self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "collector.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    crt, pem = directory / "collector.crt", directory / "collector.key"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    pem.chmod(0o600)
    return crt, pem


def swap_once(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"{old!r} should appear once in {CONF.name}"
    return text.replace(old, new)


class Nginx:
    def __init__(self, root: Path, upstream_port: int) -> None:
        self.root = root
        self.port = free_port()
        self.cert, key = self_signed(root)
        conf = CONF.read_text()
        conf = swap_once(conf, "server collector:8000;", f"server 127.0.0.1:{upstream_port};")
        conf = swap_once(conf, "listen 443 ssl;", f"listen 127.0.0.1:{self.port} ssl;")
        conf = swap_once(conf, "/etc/nginx/tls/collector.crt", str(self.cert))
        conf = swap_once(conf, "/etc/nginx/tls/collector.key", str(key))
        (root / "pin-collector.conf").write_text(conf)
        temps = "\n".join(f"    {kind}_temp_path {root}/{kind};"
                          for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        (root / "nginx.conf").write_text(f"""
worker_processes 1;
error_log {root}/error.log warn;
pid {root}/nginx.pid;
events {{ worker_connections 128; }}
http {{
    access_log {root}/access.log;
{temps}
    include {root}/pin-collector.conf;
}}
""")
        argv = [nginx_binary(), "-p", str(root), "-c", str(root / "nginx.conf"),
                "-g", "daemon off;"]
        check = subprocess.run([*argv[:-2], "-t"], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while self.status("GET", "/healthz", CLIENT_A)[0] != 200:
            assert self.proc.poll() is None, self.proc.stderr.read() if self.proc.stderr else ""
            assert time.monotonic() < deadline, "nginx did not start"
            time.sleep(0.1)

    def connection(self, source: str) -> http.client.HTTPSConnection:
        ctx = ssl.create_default_context(cafile=str(self.cert))
        return http.client.HTTPSConnection("127.0.0.1", self.port, context=ctx, timeout=10,
                                           source_address=(source, 0))

    def status(self, method: str, path: str, source: str, body: bytes | None = None,
               headers: dict[str, str] | None = None,
               chunked: bool = False) -> tuple[int, dict[str, str], bytes]:
        try:
            conn = self.connection(source)
        except OSError:
            return 0, {}, b""
        try:
            if chunked and body is not None:  # no Content-Length: Transfer-Encoding: chunked
                parts = (body[i:i + 700] for i in range(0, len(body), 700))
                conn.request(method, path, body=parts, headers=headers or {},
                             encode_chunked=True)
            else:
                conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, dict(resp.getheaders()), resp.read()
        except OSError:
            return 0, {}, b""
        finally:
            conn.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful: finish open requests
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, Nginx]]:
    """One collector (two workers: the limits are shared through its Redis) behind nginx;
    each test uses its own client addresses."""
    tmp_path = tmp_path_factory.mktemp("nginx-stack")
    collector = Served(tmp_path / "data", env={"COLLECTOR_TRUSTED_PROXIES": "127.0.0.1/32",
                                               "COLLECTOR_RATE_LIMIT_PER_MINUTE": "1",
                                               "COLLECTOR_API_TOKENS": "ops:nginx-test-token"})
    (tmp_path / "nginx").mkdir()
    try:
        proxy = Nginx(tmp_path / "nginx", collector.port)
    except BaseException:
        collector.stop()
        raise
    yield collector, proxy
    proxy.stop()
    collector.stop()


ANDROID = example_doc("trustkit-android.json")
ANDROID.pop("app-vendor-id", None)  # devices fall back to the client's address
BODY = json.dumps(ANDROID).encode()
JSON = {"Content-Type": "application/json"}


def test_reports_over_tls_chunked_with_client_prefixes_from_x_forwarded_for(
        stack: tuple[Served, Nginx]) -> None:
    _, proxy = stack
    a = [proxy.status("POST", "/v1/reports", CLIENT_A, BODY, JSON, chunked=True)[0]
         for _ in range(3)]
    assert a == [204, 204, 429]  # a burst of 2 for A's /24, shared by both workers
    assert proxy.status("POST", "/v1/reports", CLIENT_B, BODY, JSON, chunked=True)[0] == 204
    # A writing B's address into the header: nginx appends A's own, which is what counts
    spoof = {**JSON, "X-Forwarded-For": CLIENT_B}
    status, headers, body = proxy.status("POST", "/v1/reports", CLIENT_A, BODY, spoof,
                                         chunked=True)
    assert status == 429 and int(headers["Retry-After"]) >= 1
    assert json.loads(body)["type"].endswith("/rate-limited")
    # a Content-Length body goes through too; the iOS report has its own vendor id
    ios = proxy.status("POST", "/v1/reports", "127.0.3.4", example("trustkit-ios.json"), JSON)
    assert ios[0] == 204

    # counted: 4 reports; devices are A's and B's addresses (not nginx's) and the iOS one
    auth = {"Authorization": "Bearer nginx-test-token"}
    status, _, body = proxy.status("GET", "/v1/summary", CLIENT_A, headers=auth)
    assert status == 200, body
    summary = json.loads(body)
    assert (summary["reports"], summary["devices"]) == (4, 3)


def test_the_body_cap_holds_for_chunked_bodies_through_the_proxy(
        stack: tuple[Served, Nginx]) -> None:
    _, proxy = stack
    big = b'{"pad": "' + b"x" * (300 * 1024) + b'"}'
    status, headers, body = proxy.status("POST", "/v1/reports", "127.0.4.5", big, JSON,
                                         chunked=True)
    assert status == 413  # the collector's own answer, not nginx's: a problem document
    assert headers["Content-Type"] == "application/problem+json"
    assert json.loads(body)["status"] == 413


def test_internal_routes_stay_internal(stack: tuple[Served, Nginx]) -> None:
    collector, proxy = stack
    assert proxy.status("GET", "/metrics", CLIENT_A)[0] == 404  # scraped directly only
    assert collector.request("GET", "/metrics")[0] == 200
    assert proxy.status("GET", "/healthz", CLIENT_B)[0] == 200
    log = (proxy.root / "access.log").read_text()
    assert log.count("/healthz") >= 1
