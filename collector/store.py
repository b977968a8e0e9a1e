"""Writes reports into Redis: two idempotent scripts per report, many reports per round trip.

Each report touches two slots: its host's (``{h:HID}``) and the global one (``{g}``). Each
script first checks the (writer, sequence) marker of its slot, so replaying a report after a
lost reply or a Redis restart never counts it twice, and checks key types before writing,
so a runtime error can never leave half a report behind.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from collector.keys import Keys
from collector.report import Report

CHAIN_HOSTS_CAP = 1000


class StorageUnavailable(Exception):
    """Redis could not take the write now; the caller spools and retries later."""


class PoisonRecord(Exception):
    """Redis refused a record for good (a key of the wrong type); dead-letter it."""

    def __init__(self, index: int, message: str) -> None:
        super().__init__(message)
        self.index = index


@dataclass(frozen=True)
class Stamped:
    """A report with the writer id and sequence number that make its writes idempotent."""

    report: Report
    writer: str
    seq: int


def connect(url: str, timeout: float, *, pool_size: int = 4) -> redis.Redis:
    """A client that fails fast: no silent retries, so every outage is seen by the writer."""
    return redis.Redis.from_url(
        url, socket_timeout=timeout, socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0), max_connections=pool_size, health_check_interval=0,
    )


def _script(name: str) -> str:
    return (resources.files("collector") / "lua" / f"{name}.lua").read_text("utf-8")


def app_key(report: Report) -> str:
    return json.dumps([report.app_id or "", report.app_version or "", report.platform or ""],
                      separators=(",", ":"))


def pinset_key(report: Report) -> str:
    return json.dumps([list(report.known_pins), report.pins_expiration],
                      separators=(",", ":"))


def _day_parts(received_ms: int, retention_s: int) -> tuple[str, str, int]:
    t = time.gmtime(received_ms // 1000)
    day = time.strftime("%Y%m%d", t)
    end_of_day = (received_ms // 86_400_000 + 1) * 86_400
    return day, f"{t.tm_hour:02d}", end_of_day + retention_s


class ReportStore:
    """The write side of the key schema in ``keys``."""

    def __init__(self, client: redis.Redis, keys: Keys, *, retention_s: int, host_cap: int) -> None:
        self.client = client
        self.keys = keys
        self.retention_s = retention_s
        self.host_cap = host_cap
        self._host = client.register_script(_script("host"))
        self._global = client.register_script(_script("global"))

    def _queue(self, pipe: Any, item: Stamped) -> None:
        r = item.report
        day, hour, expire_at = _day_parts(r.received_ms, self.retention_s)
        hk = self.keys.host(r.hostname)
        breaking = r.classification == "public-trust" and r.enforce is False
        self._host(
            keys=[*hk.fixed(), hk.day(day), hk.devices_day(day)],
            args=[item.writer, item.seq, r.received_ms, hour, expire_at, self.retention_s,
                  self.host_cap, r.hostname, r.chain.fingerprint, app_key(r),
                  r.validation_result if r.validation_result is not None else "none",
                  r.enforcement, pinset_key(r), r.device, int(breaking),
                  r.app_version or ""],
            client=pipe,
        )
        g = self.keys.glob
        fp = r.chain.fingerprint
        hashes = r.chain.cert_hashes
        self._global(
            keys=[*g.fixed(), g.day(day), g.day_hosts(day), g.day_chains(day),
                  g.devices_day(day), g.chain(fp), g.chain_hosts(fp),
                  *(g.cert(h) for h in hashes)],
            args=[item.writer, item.seq, r.received_ms, hour, expire_at, self.retention_s,
                  CHAIN_HOSTS_CAP, r.hostname, fp, r.device, r.classification, r.label or "",
                  ",".join(hashes), r.port, *r.chain.ders],
            client=pipe,
        )

    def write(self, items: Sequence[Stamped]) -> int:
        """Apply every item in one round trip; returns how many were new.

        Raises StorageUnavailable when Redis did not answer for all of them (some may have
        been applied: replaying them is safe), PoisonRecord for a record Redis refuses.
        """
        if not items:
            return 0
        try:
            with self.client.pipeline(transaction=False) as pipe:
                for item in items:
                    self._queue(pipe, item)
                results = pipe.execute(raise_on_error=False)
        except redis.RedisError as exc:
            raise StorageUnavailable(type(exc).__name__) from exc
        new = 0
        for i, res in enumerate(results):
            if isinstance(res, redis.ResponseError) and "WRONGTYPE" in str(res):
                raise PoisonRecord(i // 2, "a collector key has the wrong type")
            if isinstance(res, Exception):
                raise StorageUnavailable(type(res).__name__) from res
            new += int(res) if i % 2 == 0 else 0
        return new

    def run_id(self) -> str:
        """The server's run id: a change means a restart that may have lost the last writes."""
        try:
            info = self.client.info("server")
        except redis.RedisError as exc:
            raise StorageUnavailable(type(exc).__name__) from exc
        return str(info.get("run_id", ""))
