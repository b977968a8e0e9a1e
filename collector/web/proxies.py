"""The client address behind trusted reverse proxies (COLLECTOR_TRUSTED_PROXIES).

The address decides a report's device key when it carries no vendor id, and its rate-limit
bucket. gunicorn has not rewritten REMOTE_ADDR from X-Forwarded-For since 19.0, whatever
``forwarded_allow_ips`` says (that setting only covers the scheme and forwarder headers), so
this middleware does, and only for peers it trusts:

- the peer (REMOTE_ADDR) is not in a trusted network: X-Forwarded-For is ignored, the peer is
  the client (anyone can send the header);
- else X-Forwarded-For is walked from the right (each proxy appends the address it got the
  connection from), skipping trusted addresses; the first untrusted one is the client. What a
  client wrote itself lies to the left of it and is never read;
- every address is trusted: the leftmost one (the hop furthest out that a proxy vouched for);
- an entry that is not an IP address (``unknown``, ``_hidden``, garbage, an empty item) is
  reached before any untrusted address: the chain cannot be read, so the peer stays the
  client. Likewise when the header is missing or holds more than ``MAX_HOPS`` entries.

Entries may carry a port (``192.0.2.1:443``, ``[2001:db8::1]:443``, as some load balancers
write them); IPv4-mapped IPv6 addresses count as their IPv4 address. The peer's own address
is kept in the environ under ``PEER_KEY``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
MAX_HOPS = 20
PEER_KEY = "collector.peer_addr"
_WITH_PORT = re.compile(
    r"\[(?P<v6>[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*)\](?::(?P<p6>\d{1,5}))?|(?P<v4>[0-9.]+):(?P<p4>\d{1,5})")

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def parse_address(text: str) -> IPAddress | None:
    """One X-Forwarded-For entry (or REMOTE_ADDR) as an address, or None."""
    text = text.strip()
    if not text or len(text) > 64 or "%" in text:  # a scope id is not a client address
        return None
    m = _WITH_PORT.fullmatch(text)
    if m is not None:
        if int(m["p6"] or m["p4"] or 0) > 65535:
            return None
        text = m["v6"] or m["v4"]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def networks(cidrs: Iterable[str]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(c) for c in cidrs)


def _trusted(ip: IPAddress, trusted: tuple[IPNetwork, ...]) -> bool:
    return any(ip.version == net.version and ip in net for net in trusted)


def _hops(forwarded_for: str) -> Iterator[str]:
    """The entries, rightmost first; the leftmost of more than MAX_HOPS keeps its commas
    (so it is garbage, and stops the walk)."""
    return reversed(forwarded_for.rsplit(",", MAX_HOPS - 1))


def client_address(peer: str | None, forwarded_for: str | None,
                   trusted: tuple[IPNetwork, ...]) -> str | None:
    """The client's address by the rule in the module docstring."""
    peer_ip = parse_address(peer or "")
    if peer_ip is None or not trusted or not _trusted(peer_ip, trusted) or not forwarded_for:
        return peer
    client = peer_ip
    for hop in _hops(forwarded_for):
        ip = parse_address(hop)
        if ip is None:
            return peer
        client = ip
        if not _trusted(ip, trusted):
            break
    return str(client)


class TrustedProxies:
    """WSGI middleware: REMOTE_ADDR becomes the client address behind trusted proxies."""

    def __init__(self, app: WSGIApp, cidrs: Iterable[str]) -> None:
        self.app = app
        self.trusted = networks(cidrs)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) \
            -> Iterable[bytes]:
        peer = environ.get("REMOTE_ADDR")
        environ[PEER_KEY] = peer
        client = client_address(peer, environ.get("HTTP_X_FORWARDED_FOR"), self.trusted)
        if client is not None:
            environ["REMOTE_ADDR"] = client
        return self.app(environ, start_response)
