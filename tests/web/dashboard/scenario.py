"""Reports for the dashboard tests: an incident as real clients would report it, and a hostile
report whose strings are markup. Shared by the WSGI and the browser tests (not a test module).

- api.example.com: the app's own new certificate (public-trust): 4 report-only devices of app
  4.2.0 (at risk) and 2 enforcing devices of 2.5.0 (losing service now); a tester behind
  mitmproxy (interception-tool, 3 iOS devices); the golden iOS and Android reports (a private
  debug proxy: unknown);
- cdn.example.net: the same public certificate, which does not cover it (unknown);
- login.example.com: a Zscaler inspection chain (tls-inspection), 2 devices;
- the golden Chromium and Expect-CT reports (their own hosts);
- evil.example (``hostile``): markup in the app id and version and in the certificate's
  subject, which every page must show as text.
"""

from __future__ import annotations

import copy
import datetime
import functools
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.helpers import example, example_doc, public_trust_ios

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(2)>'
HOSTILE_HOST = "evil.example"
NOW = datetime.datetime.now(datetime.UTC)
DAY = datetime.timedelta(days=1)


def _cert(subject: x509.Name, key: ec.EllipticCurvePrivateKey, issuer: x509.Name,
          signer: ec.EllipticCurvePrivateKey, *, ca: bool, host: str | None = None) -> str:
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(NOW - 10 * DAY).not_valid_after(NOW + 200 * DAY)
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if host:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]),
                                        critical=False)
    cert = builder.sign(signer, hashes.SHA256())
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _name(*attrs: tuple[x509.ObjectIdentifier, str]) -> x509.Name:
    return x509.Name([x509.NameAttribute(oid, value) for oid, value in attrs])


@functools.cache
def proxy_chain(ca_attrs: tuple[tuple[x509.ObjectIdentifier, str], ...], host: str) \
        -> tuple[str, str]:
    """(leaf, CA) PEMs of an intercepting proxy's chain for ``host``."""
    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), \
        ec.generate_private_key(ec.SECP256R1())
    ca_name = _name(*ca_attrs)
    ca = _cert(ca_name, ca_key, ca_name, ca_key, ca=True)
    leaf = _cert(_name((NameOID.COMMON_NAME, host)), leaf_key, ca_name, ca_key, ca=False,
                 host=host)
    return leaf, ca


MITMPROXY = ((NameOID.COMMON_NAME, "mitmproxy"), (NameOID.ORGANIZATION_NAME, "mitmproxy"))
ZSCALER = ((NameOID.COMMON_NAME, "Zscaler Root CA"), (NameOID.ORGANIZATION_NAME, "Zscaler Inc."),
           (NameOID.ORGANIZATIONAL_UNIT_NAME, "Zscaler Inc."))
HOSTILE_CA = ((NameOID.COMMON_NAME, SCRIPT), (NameOID.ORGANIZATION_NAME, IMG))


def ios(host: str, device: str, chain: list[str] | None = None, **changes: Any) \
        -> dict[str, Any]:
    doc = example_doc("trustkit-ios.json")
    doc.update({"hostname": host, "app-vendor-id": device, "noted-hostname": host})
    if chain is not None:
        doc["validated-certificate-chain"] = list(chain)
    doc.update(changes)
    return doc


def incident() -> list[bytes | dict[str, Any]]:
    """The incident of the module docstring, in the order it is sent."""
    api = "api.example.com"
    out: list[bytes | dict[str, Any]] = []
    out += [public_trust_ios(**{"app-vendor-id": f"risk-{n}"}) for n in range(4)]
    out += [public_trust_ios(**{"app-vendor-id": f"fail-{n}", "app-version": "2.5.0",
                                "enforce-pinning": True}) for n in range(2)]
    out += [ios(api, f"tester-{n}", list(proxy_chain(MITMPROXY, api))) for n in range(3)]
    out += [example("trustkit-ios.json"), example("trustkit-android.json")]
    cdn = copy.deepcopy(public_trust_ios(**{"app-vendor-id": "cdn-1"}))
    cdn.update({"hostname": "cdn.example.net", "noted-hostname": "example.net"})
    out.append(cdn)
    out += [ios("login.example.com", f"corp-{n}", list(proxy_chain(ZSCALER, "login.example.com")))
            for n in range(2)]
    out += [example("chromium-hpkp.json"), example("expect-ct.json")]
    return out


def hostile() -> dict[str, Any]:
    """Valid hostname; markup in the app id, the version and the chain's subjects."""
    return ios(HOSTILE_HOST, "hostile-1", list(proxy_chain(HOSTILE_CA, HOSTILE_HOST)),
               **{"app-bundle-id": SCRIPT, "app-version": IMG[:60]})
