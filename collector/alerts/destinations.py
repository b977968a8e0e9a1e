"""Where alerts go: generic JSON webhooks (signed) and Slack-compatible incoming webhooks.

A destination is named by its id, ``webhook:<n>`` or ``slack:<n>`` (its index in
``COLLECTOR_ALERT_WEBHOOKS`` / ``COLLECTOR_ALERT_SLACK_WEBHOOKS``): the id is what the outbox
entries, the logs and the metric labels carry. The URL itself is never logged or shown (a
Slack URL is itself a secret; a webhook URL may hold credentials in its user info, which are
sent as HTTP Basic authentication instead).

One attempt is one ``POST`` with a per-destination timeout; only a 2xx answer counts as
delivered. Redirects are not followed (a 3xx is a failed attempt): an alert is never re-sent
to an address nobody configured.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import socket
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

WEBHOOK = "webhook"
SLACK = "slack"
SIGNATURE_HEADER = "X-Pin-Collector-Signature"
TIMEOUT_S = 5.0
USER_AGENT = "pin-collector-alerts/1"
_MAX_ANSWER = 64 * 1024  # read (and drop) at most this much of an answer

TITLES = {
    "new-public-trust-chain": "New publicly trusted chain: your own key may not be pinned",
    "enforced-failures": "Enforcing clients are failing: users are losing service now",
    "new-chain": "New chain",
    "spike": "Report spike",
    "pins-expiring": "A pin set still in the field expires soon: then it is no longer "
                     "enforced",
}


@dataclass(frozen=True)
class Destination:
    """One configured receiver. ``repr`` shows the id only, never the URL or credentials."""

    id: str
    kind: str
    url: str = field(repr=False)
    authorization: str | None = field(default=None, repr=False)
    secret: bytes | None = field(default=None, repr=False)
    timeout: float = TIMEOUT_S

    def payload(self, alert: bytes) -> bytes:
        """The request body: the alert itself for a webhook, ``{"text": …}`` for Slack."""
        if self.kind == SLACK:
            return json.dumps({"text": slack_text(json.loads(alert))}).encode()
        return alert

    def headers(self, body: bytes) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
        if self.kind == WEBHOOK and self.secret:
            headers[SIGNATURE_HEADER] = signature(self.secret, body)
        if self.authorization:
            headers["Authorization"] = self.authorization
        return headers


def signature(secret: bytes, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256 of the raw body>``, the value of the signature header."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def redact(url: str) -> str:
    """The URL without user info, query or fragment (for messages that must name one)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host + (f":{port}" if port else "")
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _destination(kind: str, index: int, url: str, secret: bytes | None,
                 timeout: float) -> Destination:
    parts = urllib.parse.urlsplit(url)
    authorization = None
    netloc = parts.netloc
    if "@" in netloc:  # user info: sent as Basic authentication, never part of the address
        netloc = netloc.rpartition("@")[2]
        user = urllib.parse.unquote(parts.username or "")
        password = urllib.parse.unquote(parts.password or "")
        authorization = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    clean = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    return Destination(f"{kind}:{index}", kind, clean, authorization,
                       secret if kind == WEBHOOK else None, timeout)


def destinations(webhooks: Sequence[str], slack: Sequence[str], secret: str | None = None,
                 *, timeout: float = TIMEOUT_S) -> list[Destination]:
    """The destinations in configuration order (URLs were validated by ``config``)."""
    key = secret.encode() if secret else None
    return ([_destination(WEBHOOK, i, u, key, timeout) for i, u in enumerate(webhooks)]
            + [_destination(SLACK, i, u, None, timeout) for i, u in enumerate(slack)])


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the 3xx surfaces as an HTTPError: a failed attempt


_OPENER = urllib.request.build_opener(_NoRedirect)


def post(dest: Destination, body: bytes) -> tuple[bool, str]:
    """One attempt: (delivered, what happened). The text never holds the URL."""
    if not dest.url.startswith(("http://", "https://")):  # config allows no other scheme
        return False, "unsupported scheme"
    request = urllib.request.Request(dest.url, data=body,  # noqa: S310  (http(s) only, above)
                                     headers=dest.headers(body), method="POST")
    try:
        with _OPENER.open(request, timeout=dest.timeout) as answer:
            answer.read(_MAX_ANSWER)
            status = answer.status
    except urllib.error.HTTPError as exc:
        exc.close()
        return False, f"HTTP {exc.code}"
    except urllib.error.URLError as exc:
        return False, _reason(exc.reason)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return False, _reason(exc)
    if 200 <= status < 300:
        return True, f"HTTP {status}"
    return False, f"HTTP {status}"


def _reason(exc: object) -> str:
    """A short cause without the exception text (which may name the host or the URL)."""
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return "timeout"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return "name resolution failed"
    if isinstance(exc, OSError) and exc.errno is not None:
        return f"{type(exc).__name__} (errno {exc.errno})"
    return type(exc).__name__


def _esc(value: object) -> str:
    """Slack's mrkdwn escapes: &, < and > only."""
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_text(alert: dict[str, Any]) -> str:
    """A few lines an analyst can act on, with a link to the host's dashboard page."""
    rule = str(alert.get("rule") or "")
    lines = [f"*{_esc(TITLES.get(rule, rule))}*: `{_esc(alert.get('hostname'))}`"]
    fp = alert.get("fingerprint")
    if fp:
        chain = f"chain `{_esc(str(fp)[:16])}…`"
        if alert.get("classification"):
            chain += f", {_esc(alert['classification'])}"
        if alert.get("label"):
            chain += f" ({_esc(alert['label'])})"
        lines.append(chain)
    pin_set = alert.get("pin_set")
    if isinstance(pin_set, dict):
        lines.append(f"pin set expires {_esc(pin_set.get('expiration'))} (in "
                     f"{_esc(pin_set.get('days_to_expiry'))} days), "
                     f"{_esc(len(pin_set.get('app_versions') or []))} app versions")
    seen = f"{_esc(alert.get('reports'))} reports from {_esc(alert.get('devices'))} devices"
    if alert.get("first_seen"):
        seen += f", first seen {_esc(alert['first_seen'])}"
    lines.append(seen)
    if alert.get("url"):
        lines.append(f"<{_esc(alert['url'])}|Open in pin-collector> (rule `{_esc(rule)}`)")
    return "\n".join(lines)
