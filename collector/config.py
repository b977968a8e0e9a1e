"""Settings: every COLLECTOR_* variable, read once at start-up into a frozen object.

A typo must not be silently ignored, so an unknown COLLECTOR_* name is an error, and all
problems are reported together in one ConfigError.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
from collections.abc import Callable, Mapping
from typing import Any

PREFIX = "COLLECTOR_"


class ConfigError(Exception):
    """The environment does not describe a usable configuration."""


def _csv(raw: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in raw.split(",") if p.strip())


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value <= 0:
        raise ValueError("must be a positive integer")
    return value


def _non_negative_int(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise ValueError("must be 0 (off) or a positive integer")
    return value


def _positive_float(raw: str) -> float:
    value = float(raw)
    if not value > 0 or value != value or value == float("inf"):
        raise ValueError("must be a positive number")
    return value


def _existing_file(raw: str) -> str:
    if not os.path.isfile(raw):
        raise ValueError("file does not exist")
    return raw


def _hosts(raw: str) -> tuple[str, ...]:
    from collector.intake.hostnames import HostnameError, normalise

    out = []
    for item in _csv(raw):
        try:
            out.append(normalise(item))
        except HostnameError as exc:
            raise ValueError(f"{item!r} is not a hostname") from exc
    return tuple(out)


def _networks(raw: str) -> tuple[str, ...]:
    """CIDRs (a bare address is a /32 or /128), in canonical form; every bad one is named."""
    out, bad = [], []
    for item in _csv(raw):
        try:
            if "%" in item:  # a scope id names an interface, not a network
                raise ValueError(item)
            out.append(str(ipaddress.ip_network(item, strict=True)))
        except ValueError:
            try:
                meant = ipaddress.ip_network(item, strict=False) if "%" not in item else None
            except ValueError:
                meant = None
            bad.append(f"{item!r} has host bits set (did you mean {meant}?)" if meant
                       else f"{item!r} is not a CIDR network")
    if bad:
        raise ValueError(", ".join(bad))
    return tuple(out)


ALERT_RULES = ("new-public-trust-chain", "enforced-failures", "new-chain", "spike",
               "pins-expiring")
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"


def _url(raw: str) -> str:
    """An http(s) URL with a host. Errors never repeat the URL: it may hold credentials
    (userinfo, a token in the path or query, as Slack's incoming webhooks do)."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(raw.strip())
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
        _ = parts.port  # a bad port raises ValueError
    except ValueError:
        ok = False
    if not ok:
        raise ValueError("is not an http:// or https:// URL with a host")
    return raw.strip()


def _urls(raw: str) -> tuple[str, ...]:
    """Comma-separated URLs; a bad one is named by its position, never by its text."""
    out, bad = [], []
    for i, item in enumerate(_csv(raw), start=1):
        try:
            out.append(_url(item))
        except ValueError:
            bad.append(f"entry {i} is not an http:// or https:// URL with a host "
                       "(not shown: it may hold credentials)")
    if bad:
        raise ValueError(", ".join(bad))
    return tuple(out)


def _public_url(raw: str) -> str:
    try:
        return _url(raw).rstrip("/")
    except ValueError:
        raise ValueError("is not an http:// or https:// URL with a host "
                         "(not shown: it may hold credentials)") from None


def _expiry_days(raw: str) -> int:
    """Days ahead the pins-expiring rule looks: 1 to 3650."""
    value = _positive_int(raw)
    if value > 3650:
        raise ValueError("must be at most 3650 (days)")
    return value


def _rules(raw: str) -> tuple[str, ...]:
    """Alert rules switched on: a subset of ALERT_RULES; empty (or ``none``) is none."""
    names = _csv(raw)
    if names == ("none",):
        return ()
    bad = [n for n in names if n not in ALERT_RULES]
    if bad:
        raise ValueError(f"unknown rule(s) {', '.join(map(repr, bad))}; "
                         f"known: {', '.join(ALERT_RULES)}")
    return tuple(dict.fromkeys(names))


_TOKEN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
GENERATED_TOKEN_NAME = "generated"  # noqa: S105 - a name, not a secret


def _api_tokens(raw: str) -> tuple[str, ...]:
    """Entries ``name:token`` or a bare ``token``; kept as written (``named_tokens`` splits
    them). A problem names the entry's position, never its text: it holds a secret."""
    entries = _csv(raw)
    bad = []
    for i, entry in enumerate(entries, start=1):
        try:
            named_token(entry, i)
        except ValueError as exc:
            bad.append(f"entry {i} {exc}")
    if bad:
        raise ValueError(", ".join(bad))
    return entries


def named_token(entry: str, position: int) -> tuple[str, str]:
    """(name, token) of one COLLECTOR_API_TOKENS entry; a bare token is ``token-<position>``.

    The first colon separates the name, so a token holding a colon needs a name."""
    name, sep, token = entry.partition(":")
    if not sep:
        return f"token-{position}", entry
    name, token = name.strip(), token.strip()
    if not _TOKEN_NAME.fullmatch(name):
        raise ValueError("has a bad name (letters, digits, . _ @ -; at most 64; a token "
                         "holding ':' needs a name)")
    if not token:
        raise ValueError("has a name but no token")
    return name, token


def named_tokens(entries: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """(name, token) of every configured entry, by position."""
    return tuple(named_token(e, i) for i, e in enumerate(entries, start=1))


FSYNC_MODES = ("interval", "always")


def _fsync_mode(raw: str) -> str:
    """COLLECTOR_SPOOL_FSYNC: when a spooled report reaches the disk (SPEC §7)."""
    mode = raw.strip().lower()
    if mode not in FSYNC_MODES:
        raise ValueError(f"must be one of {', '.join(FSYNC_MODES)}")
    return mode


def _nonempty(raw: str) -> str:
    if not raw.strip():
        raise ValueError("must not be empty")
    return raw.strip()


@dataclasses.dataclass(frozen=True, kw_only=True)
class Settings:
    """What the collector needs to run; tests build it directly."""

    redis_url: str | None = None
    data_dir: str = "./data"
    api_tokens: tuple[str, ...] = ()
    public_roots: str | None = None
    allowed_hosts: tuple[str, ...] = ()
    retention_days: int = 90
    max_body_bytes: int = 256 * 1024
    device_secret: str | None = None
    products_file: str | None = None
    key_prefix: str = "pc"
    host_cap: int = 200
    spool_max_bytes: int = 512 * 1024 * 1024
    # "interval": written before the 204, fsync'd within 100 ms; "always": fsync'd before it
    spool_fsync: str = "interval"
    redis_timeout_seconds: float = 0.5
    rate_limit_per_minute: int = 0
    rate_limit_global_per_minute: int = 0
    rate_limit_chains_per_hour: int = 0
    trusted_proxies: tuple[str, ...] = ()
    # Alerts (SPEC section 9). Destination URLs and the secret are kept out of repr().
    alert_webhooks: tuple[str, ...] = dataclasses.field(default=(), repr=False)
    alert_webhook_secret: str | None = dataclasses.field(default=None, repr=False)
    alert_slack_webhooks: tuple[str, ...] = dataclasses.field(default=(), repr=False)
    alert_cooldown_seconds: int = 3600
    alert_spike_min: int = 50
    alert_pin_expiry_days: int = 30  # pins-expiring: a field pin set expires within this
    alert_rules: tuple[str, ...] = ALERT_RULES
    public_url: str = DEFAULT_PUBLIC_URL

    @property
    def retention_seconds(self) -> int:
        return self.retention_days * 86400

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from the environment; report every problem at once."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        problems: list[str] = []
        if "REDIS_URL" in env and env["REDIS_URL"].strip():
            url = env["REDIS_URL"].strip()
            if not url.startswith(("redis://", "rediss://", "unix://", "redis+cluster://")):
                problems.append("REDIS_URL must start with redis://, rediss://, unix:// "
                                "or redis+cluster://")
            values["redis_url"] = url
        for var, raw in env.items():
            if not var.startswith(PREFIX):
                continue
            name = var.removeprefix(PREFIX).lower()
            cast = _CASTS.get(name)
            if cast is None:
                problems.append(f"{var} is not a known setting")
                continue
            try:
                values[name] = cast(raw)
            except ValueError as exc:
                problems.append(f"{var}: {exc}")
        if problems:
            raise ConfigError("invalid configuration: " + "; ".join(sorted(problems)))
        return cls(**values)


_CASTS: dict[str, Callable[[str], Any]] = {
    "data_dir": _nonempty,
    "api_tokens": _api_tokens,
    "public_roots": _existing_file,
    "allowed_hosts": _hosts,
    "retention_days": _positive_int,
    "max_body_bytes": _positive_int,
    "device_secret": _nonempty,
    "products_file": _existing_file,
    "key_prefix": _nonempty,
    "host_cap": _positive_int,
    "spool_max_bytes": _positive_int,
    "spool_fsync": _fsync_mode,
    "redis_timeout_seconds": _positive_float,
    "rate_limit_per_minute": _non_negative_int,
    "rate_limit_global_per_minute": _non_negative_int,
    "rate_limit_chains_per_hour": _non_negative_int,
    "trusted_proxies": _networks,
    "alert_webhooks": _urls,
    "alert_webhook_secret": _nonempty,
    "alert_slack_webhooks": _urls,
    "alert_cooldown_seconds": _positive_int,
    "alert_spike_min": _positive_int,
    "alert_pin_expiry_days": _expiry_days,
    "alert_rules": _rules,
    "public_url": _public_url,
}
