"""`pin` and `send-test-report`: the two tools a team reaches for while rolling out pinning.

``pin`` prints each certificate's SPKI pin in the forms TrustKit (``kTSKPublicKeyHashes``,
bare base64) and Android's network security config (``<pin digest="SHA-256">``) expect, from
a PEM/DER file or a live server. The live chain is the one the server sends, read without
verification on purpose: pinning needs the keys actually served, trusted or not.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import re
import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from collector.cli.sources import CliError
from collector.intake.chains import PEM_BLOCK, load_der, spki_pin
from collector.intake.schemas import TEST_MARKER

_HOSTPORT = re.compile(
    r"\[(?P<v6>[0-9A-Fa-f:.]+)\](?::(?P<p6>\d+))?|(?P<h>[^:\s]+)(?::(?P<p>\d+))?")
_ENCODING_DER = 2  # _ssl.ENCODING_DER: Certificate.public_bytes() of the private chain API
MEANINGS = {
    204: "accepted: the collector stored the report (durable in Redis or its local spool)",
    400: "rejected: the body is not valid JSON",
    401: "unexpected: POST /v1/reports needs no token",
    404: "wrong URL: no collector endpoint there (expected .../v1/reports)",
    405: "wrong URL or method: the endpoint does not take POST",
    413: "rejected: the body is over the collector's size cap",
    415: "rejected: the Content-Type or Content-Encoding is not accepted",
    422: "rejected: not a report this collector accepts (e.g. host outside "
         "COLLECTOR_ALLOWED_HOSTS)",
    429: "rate-limited: retry after the Retry-After delay",
    503: "unavailable: neither Redis nor the spool can take reports right now",
}


def certs_from_file(path: Path) -> list[bytes]:
    data = path.read_bytes()
    blocks = PEM_BLOCK.findall(data)
    if blocks:
        return [x509.load_pem_x509_certificate(b).public_bytes(serialization.Encoding.DER)
                for b in blocks]
    return [data]  # a single DER certificate, checked by load_der


def certs_from_host(target: str, timeout: float = 10.0) -> tuple[list[bytes], bool]:
    """The chain a server sends (leaf first) and whether it is complete (else leaf only)."""
    m = _HOSTPORT.fullmatch(target.strip())
    if m is None:
        raise CliError(f"not HOST[:PORT]: {target}", 2)
    host = m["v6"] or m["h"]
    port = int(m["p6"] or m["p"] or 443)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # we want the served keys, trusted or not
    sni = None if m["v6"] or re.fullmatch(r"[\d.]+", host) else host
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw, \
                ctx.wrap_socket(raw, server_hostname=sni) as tls:
            getter = getattr(tls, "get_unverified_chain", None) or \
                getattr(getattr(tls, "_sslobj", None), "get_unverified_chain", None)
            if getter is not None:  # public on 3.13, private on 3.10-3.12
                chain = [c if isinstance(c, bytes) else c.public_bytes(_ENCODING_DER)
                         for c in getter() or []]
                if chain:
                    return chain, True
            leaf = tls.getpeercert(binary_form=True)
    except (OSError, ssl.SSLError) as exc:
        raise CliError(f"cannot fetch the chain of {host}:{port}: {exc}", 2) from None
    if not leaf:
        raise CliError(f"{host}:{port} sent no certificate", 2)
    return [leaf], False


def describe(ders: list[bytes]) -> list[dict[str, Any]]:
    out = []
    for i, der in enumerate(ders):
        cert = load_der(der)
        pin = spki_pin(cert)
        out.append({"index": i, "subject": cert.subject.rfc4514_string(),
                    "issuer": cert.issuer.rfc4514_string(), "spki_sha256": pin,
                    "trustkit": pin, "android_nsc": f'<pin digest="SHA-256">{pin}</pin>'})
    return out


def render_pins(certs: list[dict[str, Any]], complete: bool) -> str:
    lines = []
    for c in certs:
        lines += [f"[{c['index']}] {c['subject']}", f"    issuer: {c['issuer']}",
                  f"    pin-sha256: {c['spki_sha256']}"]
    pins = [c["trustkit"] for c in certs]
    lines += ["", "TrustKit (kTSKPublicKeyHashes):",
              "    kTSKPublicKeyHashes: @[" + ", ".join(f'@"{p}"' for p in pins) + "]",
              "", "Android network security config:", "    <pin-set>",
              *(f"        {c['android_nsc']}" for c in certs), "    </pin-set>"]
    if not complete:
        lines += ["", "note: only the leaf was read (this Python cannot return the served "
                      "chain); pin a backup key too."]
    return "\n".join(lines)


# The one chain every `send-test-report` sends, so test reports never add a chain per run: a
# self-signed P-256 certificate (O=pin-collector, CN=pin-collector test report, serial
# b"pin-collector", valid 2025-01-01 to 9999-12-31) whose private key was thrown away when it
# was made. Its chain fingerprint is TEST_CHAIN_FINGERPRINT.
TEST_CERTIFICATE = """\
-----BEGIN CERTIFICATE-----
MIIBhTCCASugAwIBAgINcGluLWNvbGxlY3RvcjAKBggqhkjOPQQDAjA8MRYwFAYD
VQQKDA1waW4tY29sbGVjdG9yMSIwIAYDVQQDDBlwaW4tY29sbGVjdG9yIHRlc3Qg
cmVwb3J0MCAXDTI1MDEwMTAwMDAwMFoYDzk5OTkxMjMxMjM1OTU5WjA8MRYwFAYD
VQQKDA1waW4tY29sbGVjdG9yMSIwIAYDVQQDDBlwaW4tY29sbGVjdG9yIHRlc3Qg
cmVwb3J0MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEue4JdwdAO/6c+0mIbVFL
7cfwsVojDF6DzHCeGgp4oIv9q5MlV4UD3iG3ZZmxN459hvhs4o1ZLcAxYwF4nReJ
kqMQMA4wDAYDVR0TAQH/BAIwADAKBggqhkjOPQQDAgNIADBFAiEAobN8pWH0NbDu
SXbiqDnD6TEt9d7JfHj//AWP8IS4k2oCIA+ck53Suvjyqcdfp6YGSUzK+VBGhM/y
dKSlwjbQ8unL
-----END CERTIFICATE-----
"""
TEST_CHAIN_FINGERPRINT = "aefce6d4b002cff6d097c30e80bc999d06c25cc70136984ae5cecfec8b3b514e"
TEST_VENDOR_ID = "00000000-0000-4000-8000-000000000000"


def sample_report(hostname: str, now: datetime.datetime | None = None) -> dict[str, Any]:
    """A TrustKit iOS report over the fixed test certificate, marked as a test report
    (``pin-collector-test: true``, flagged ``test-report`` and counted apart)."""
    now = now or datetime.datetime.now(datetime.UTC)
    pem = TEST_CERTIFICATE.strip().replace("\n", "\r\n")  # iOS joins PEM lines with CRLF
    return {
        "app-bundle-id": "dev.pin-collector.test", "app-version": "0.0.0",
        "app-vendor-id": TEST_VENDOR_ID, "app-platform": "IOS",
        "app-platform-version": "18.0", "trustkit-version": "3.0.0",
        "hostname": hostname, "port": 0, "noted-hostname": hostname,
        "include-subdomains": False, "enforce-pinning": False,
        "validated-certificate-chain": [pem],
        "known-pins": ['pin-sha256="' + "A" * 43 + '="'],
        "known-pins-expiration-date": (now + datetime.timedelta(days=365)).date().isoformat(),
        "validation-result": 1,
        "date-time": now.replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        TEST_MARKER: True,
    }


@dataclasses.dataclass(frozen=True)
class SendResult:
    """What the collector answered to one test report."""

    url: str
    hostname: str
    status: int
    meaning: str
    detail: str

    def as_json(self) -> dict[str, Any]:
        return {"url": self.url, "hostname": self.hostname, "status": self.status,
                "accepted": self.status == 204, "meaning": self.meaning,
                "detail": self.detail or None, "chain_fingerprint": TEST_CHAIN_FINGERPRINT}


def send_test_report(url: str, hostname: str, timeout: float = 10.0) -> SendResult:
    """POST a sample report; the answer with its meaning and the problem's detail."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise CliError("URL must be http:// or https://", 2)
    path = parts.path.rstrip("/")
    if not path.endswith("/v1/reports"):
        path += "/v1/reports"
    url = urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))
    body = json.dumps(sample_report(hostname)).encode("utf-8")
    req = urllib.request.Request(url, data=body, method="POST",  # noqa: S310 (checked)
                                 headers={"Content-Type": "application/json"})
    detail = ""
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310
            status = resp.status
    except urllib.error.HTTPError as exc:
        status = exc.code
        try:
            detail = str(json.loads(exc.read()).get("detail", ""))
        except (ValueError, AttributeError):
            detail = ""
    except (urllib.error.URLError, OSError) as exc:
        raise CliError(f"cannot reach {url}: {exc}", 2) from None
    return SendResult(url, hostname, status, MEANINGS.get(status, "unexpected answer"),
                            detail)
