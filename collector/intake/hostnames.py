"""Hostname normalisation: the one form used for counting, key tags and lookups.

Reports carry hostnames from devices (and from anyone who can POST), so only DNS names that
survive IDNA 2008 are accepted, in their lower-case A-label form without a trailing dot.
Analysts may type either the U-label or the A-label; both normalise the same way.
"""

from __future__ import annotations

import functools
import ipaddress
import re

import idna

_LDH = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


class HostnameError(ValueError):
    """Not a hostname we count reports for."""


@functools.lru_cache(maxsize=4096)
def normalise(raw: str, *, allow_unicode: bool = True) -> str:
    """Return the lower-case A-label form of ``raw``, or raise HostnameError.

    Cached: a pinning incident repeats a handful of hostnames; failures are not cached.
    """
    name = raw.strip() if allow_unicode else raw
    name = name.removesuffix(".")
    if not name or len(name) > 253:
        raise HostnameError("bad length")
    if name.isascii():
        name = name.lower()
        if "%" not in name:  # an IPv6 zone id names an interface, not a host
            try:
                return ipaddress.ip_address(name).compressed
            except ValueError:
                pass
        labels = name.split(".")
        if not all(_LDH.fullmatch(label) for label in labels):
            raise HostnameError("not an LDH hostname")
        if any(label.startswith("xn--") for label in labels):
            try:
                idna.decode(name)
            except idna.IDNAError as exc:
                raise HostnameError("invalid IDNA label") from exc
        return name
    if not allow_unicode:
        raise HostnameError("not an A-label")
    try:
        encoded = idna.encode(name, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError) as exc:
        raise HostnameError("invalid internationalised hostname") from exc
    return normalise(encoded, allow_unicode=False)


def is_within(hostname: str, parent: str) -> bool:
    """True when ``hostname`` is ``parent`` or a subdomain of it (both normalised)."""
    return hostname == parent or hostname.endswith("." + parent)
