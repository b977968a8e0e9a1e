"""The CLI reading Redis (or Redis Cluster) directly, through the views the API answers from.

The context comes from ``wiring.reader``, with the key prefix and retention taken from the
environment (COLLECTOR_*) as the server takes them.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from typing import Any

import redis

from collector import wiring
from collector.aggregates.read.chain_list import chains_page
from collector.aggregates.read.chain_view import chain_doc
from collector.aggregates.read.context import ReadContext
from collector.aggregates.read.hosts import host_doc, hosts_page
from collector.aggregates.read.params import (
    CHAINS_OF_HOST,
    CLASSES,
    FINGERPRINT,
    BadCursor,
    clamp_limit,
    decode_cursor,
    encode_cursor,
    next_cursor,
)
from collector.aggregates.read.summary import summary_doc
from collector.aggregates.read.windows import Window
from collector.alerts.listing import alerts_page, valid_cursor
from collector.alerts.triage import audit_page
from collector.cli.sources import CliError
from collector.config import Settings
from collector.intake.hostnames import HostnameError, normalise

REDIS_TIMEOUT_S = 5.0


@contextlib.contextmanager
def redis_errors() -> Iterator[None]:
    """A Redis (or Cluster) error as a ``CliError`` (exit status 2)."""
    try:
        yield
    except (redis.RedisError, redis.exceptions.RedisClusterException) as exc:
        raise CliError(f"redis: {type(exc).__name__}: {exc}", 2) from None


def _found(doc: dict[str, Any] | None, what: str) -> dict[str, Any]:
    if doc is None:
        raise CliError(f"not found: {what}", 1)
    return doc


def _offset(cursor: str | None, kind: str, sort: str) -> int:
    try:
        return decode_cursor(cursor, kind, sort)
    except BadCursor:
        raise CliError("not a cursor from this list", 2) from None


class RedisSource:
    """Calls the read views directly, exactly as the API does."""

    def __init__(self, ctx: ReadContext) -> None:
        self.ctx = ctx

    def summary(self, window: Window) -> dict[str, Any]:
        with redis_errors():
            return summary_doc(self.ctx, window)

    def hosts(self, window: Window, sort: str, cursor: str | None, limit: int) -> dict[str, Any]:
        offset = _offset(cursor, "h", sort)
        with redis_errors():
            items, more = hosts_page(self.ctx, window, sort, offset, clamp_limit(limit))
        return {"items": items, "next_cursor": next_cursor("h", sort, offset, len(items), more)}

    def host(self, hostname: str, window: Window) -> dict[str, Any]:
        try:
            name = normalise(hostname)
        except HostnameError:
            raise CliError(f"not found: {hostname}", 1) from None
        with redis_errors():
            return _found(host_doc(self.ctx, name, window), hostname)

    def chains(self, window: Window, cursor: str | None, limit: int, *,
               classification: str | None = None,
               hostname: str | None = None) -> dict[str, Any]:
        if classification is not None and classification not in CLASSES:
            raise CliError(f"classification: one of {', '.join(CLASSES)}", 2)
        if hostname is not None:
            try:
                hostname = normalise(hostname)
            except HostnameError:
                raise CliError(f"hostname: not a hostname: {hostname}", 2) from None
        sort = CHAINS_OF_HOST if hostname is not None else "reports"
        offset = _offset(cursor, "c", sort)
        with redis_errors():
            items, after = chains_page(self.ctx, window, offset, clamp_limit(limit),
                                       classification=classification, hostname=hostname)
        return {"items": items,
                "next_cursor": encode_cursor("c", sort, after) if after is not None else None}

    def chain(self, fingerprint: str, window: Window) -> dict[str, Any]:
        if not FINGERPRINT.fullmatch(fingerprint):
            raise CliError(f"not found: {fingerprint}", 1)
        with redis_errors():
            return _found(chain_doc(self.ctx, fingerprint, window), fingerprint)


    def alerts(self, cursor: str | None, limit: int) -> dict[str, Any]:
        if cursor is not None and not valid_cursor(cursor):
            raise CliError("not a cursor from this list", 2)
        with redis_errors():
            items, after = alerts_page(self.ctx.client, self.ctx.keys.alerts.log, cursor,
                                       clamp_limit(limit))
        return {"items": items, "next_cursor": after}

    def audit(self, cursor: str | None, limit: int) -> dict[str, Any]:
        offset = _offset(cursor, "t", "new")
        with redis_errors():
            items, more = audit_page(self.ctx.client, self.ctx.keys, offset, clamp_limit(limit))
        return {"items": items, "next_cursor": next_cursor("t", "new", offset, len(items), more)}

    def triage_pair(self, hostname: str, fingerprint: str, state: str,
                    note: str) -> dict[str, Any]:
        raise CliError(_TRIAGE_NEEDS_API, 2)

    def triage_issuer(self, pin: str, state: str, note: str) -> dict[str, Any]:
        raise CliError(_TRIAGE_NEEDS_API, 2)


_TRIAGE_NEEDS_API = ("triage changes go through the API (--url and a token), which records "
                     "who made them")


def redis_source(redis_url: str) -> RedisSource:
    """Reads ``redis_url`` with the other settings (key prefix, retention) from the env."""
    settings = dataclasses.replace(Settings.from_env(), redis_url=redis_url)
    with redis_errors():  # a Cluster client asks for the slot map as it is built
        return RedisSource(wiring.reader(settings, timeout=REDIS_TIMEOUT_S))
