"""Hostname normalisation: the one form used for counting, key tags and lookups.

Reports carry hostnames from devices (and from anyone who can POST), so only DNS names that
survive IDNA 2008 are accepted, in their lower-case A-label form without a trailing dot.
Analysts may type either the U-label or the A-label; both normalise the same way.

A report's hostname (``reported``) is held to more than an analyst's lookup: ASCII is taken
as it is (no stripping), a U-label only in its canonical form (nothing that IDNA's mapping
would drop or fold, such as zero-width characters, full-width letters or U+3002 for a dot,
only upper case), and no label may mix scripts the way homographs do (a Cyrillic U+0430
"a" in "apple"), whichever form the name arrives in.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import unicodedata

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


# UTS 39 "highly restrictive": one script per label, or Latin with the scripts CJK names mix.
_HAN = frozenset({"HAN", "LATIN"})
_MIXES = (_HAN | {"HIRAGANA", "KATAKANA"}, _HAN | {"BOPOMOFO"}, _HAN | {"HANGUL"})
_SCRIPT_ALIASES = {"CJK": "HAN", "IDEOGRAPHIC": "HAN", "KATAKANA-HIRAGANA": "KATAKANA"}


def _script(char: str) -> str | None:
    """The script of a letter, from the first word of its Unicode name; None for the rest
    (digits, the hyphen, combining marks, which take their base letter's script)."""
    if not unicodedata.category(char).startswith("L"):
        return None
    word = unicodedata.name(char, "UNKNOWN").split(" ", 1)[0]
    return _SCRIPT_ALIASES.get(word, word)


def mixes_scripts(label: str) -> bool:
    """True when one label mixes scripts that no single language writes together."""
    scripts = {s for s in map(_script, label) if s is not None}
    return len(scripts) > 1 and not any(scripts <= allowed for allowed in _MIXES)


@functools.lru_cache(maxsize=4096)
def reported(raw: str) -> str:
    """The A-label form of a hostname as a report carries it, or raise HostnameError.

    ASCII (A-labels, IP literals) as ``normalise(raw, allow_unicode=False)``; a U-label
    (SPEC §3) only when IDNA's UTS 46 mapping would change nothing but its case. Either way
    a label that mixes scripts is refused.
    """
    if raw.isascii():
        name = normalise(raw, allow_unicode=False)
        if "xn--" in name:
            _check_scripts(idna.decode(name))  # valid: normalise decoded it
        return name
    nfc = unicodedata.normalize("NFC", raw)
    folded = "".join(c.lower() for c in nfc)
    try:
        mapped = idna.uts46_remap(nfc, std3_rules=True, transitional=False)
        if mapped != folded:
            raise HostnameError("not a canonical U-label")
        _check_scripts(mapped)
        encoded = idna.encode(mapped, uts46=False).decode("ascii")
    except (idna.IDNAError, UnicodeError) as exc:
        raise HostnameError("invalid internationalised hostname") from exc
    return normalise(encoded, allow_unicode=False)


def _check_scripts(name: str) -> None:
    if any(mixes_scripts(label) for label in name.split(".")):
        raise HostnameError("a label mixes scripts")


def is_within(hostname: str, parent: str) -> bool:
    """True when ``hostname`` is ``parent`` or a subdomain of it (both normalised)."""
    return hostname == parent or hostname.endswith("." + parent)
