"""What keeps the dashboard's pages safe to open: response headers, TLS detection for the
cookie's ``Secure`` flag, and the ``next`` target of sign-in (no open redirect).

The CSP allows only this origin's scripts and styles and no inline code at all: page data
reaches ``dashboard.js`` in ``<script type="application/json">`` blocks, which are data,
never executed. Chart.js sizes its canvases through the CSSOM, which ``style-src`` does not
govern.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from flask import Response, request

from collector.web.dashboard.blueprint import is_api_path
from collector.web.proxies import PEER_KEY, IPNetwork, networks, parse_address

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "font-src 'self'; connect-src 'self'; object-src 'none'; frame-ancestors 'none'; "
       "base-uri 'none'; form-action 'self'")
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
}
NEXT_MAX = 2048
_NOT_NEXT = ("/signin", "/signout", "/static/", "/favicon.ico")


def tls_check(trusted_cidrs: tuple[str, ...]) -> Callable[[], bool]:
    """``over_tls()`` for the current request: the request's own scheme (TLS to this server,
    or gunicorn's ``forwarded_allow_ips`` rewrite), or ``X-Forwarded-Proto: https`` from a
    peer in COLLECTOR_TRUSTED_PROXIES. Anyone else's ``X-Forwarded-Proto`` is ignored."""
    trusted: tuple[IPNetwork, ...] = networks(trusted_cidrs)

    def over_tls() -> bool:
        if request.scheme == "https":
            return True
        if not trusted:
            return False
        peer = parse_address(request.environ.get(PEER_KEY) or request.remote_addr or "")
        if peer is None or not any(peer.version == n.version and peer in n for n in trusted):
            return False
        proto = request.headers.get("X-Forwarded-Proto", "")
        return proto.rsplit(",", 1)[-1].strip().lower() == "https"

    return over_tls


def apply_headers(response: Response) -> Response:
    """The security headers on every dashboard response (pages, static files, HTML errors);
    the JSON API and the probes keep their answers exactly as they are."""
    if is_api_path(request.path):
        return response
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if response.mimetype == "text/html":
        response.headers["Cache-Control"] = "no-store"
    return response


def safe_next(raw: str | None) -> str | None:
    """A path on this site to return to after sign-in, or None: only a local absolute path
    (no scheme, no host, no ``//`` or backslash that a browser would read as one, printable
    ASCII only: browsers drop tabs and newlines, which could make a ``//``), never the
    sign-in pages, the API or static files."""
    if not raw or len(raw) > NEXT_MAX or not raw.startswith("/") or raw.startswith("//"):
        return None
    if "\\" in raw or any(ord(c) <= 0x20 or ord(c) >= 0x7F for c in raw):
        return None
    try:
        parts = urlsplit(raw)
    except ValueError:
        return None
    if parts.scheme or parts.netloc or is_api_path(parts.path):
        return None
    if parts.path.startswith(_NOT_NEXT):
        return None
    return raw
