"""Writes reports into Redis: a batch is one script per host plus one global script.

Each report touches two slots: its host's (``{h:HID}``) and the global one (``{g}``). Each
script first checks its slot's (writer, sequence) high-water mark, so replaying a report
after a lost reply or a Redis restart never counts it twice, and checks key types before
writing, so a runtime error can never leave half a batch behind. Scripts sum a batch before
writing: Redis work grows with distinct hosts/chains/apps per batch, not with reports.
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import redis
from redis.cluster import RedisCluster

from collector.aggregates.keys import Keys
from collector.intake.report import Report

CHAIN_HOSTS_CAP = 1000


class StorageUnavailable(Exception):
    """Redis could not take the write now; the caller spools and retries later."""


class PoisonRecord(Exception):
    """Redis refused records for good (a key of the wrong type); dead-letter them."""

    def __init__(self, indices: list[int], message: str) -> None:
        super().__init__(message)
        self.indices = indices


@dataclass(frozen=True)
class Stamped:
    """A report with the writer id and sequence number that make its writes idempotent."""

    report: Report
    writer: str
    seq: int


def _script(name: str) -> str:
    return (resources.files("collector.aggregates") / "lua" / f"{name}.lua").read_text("utf-8")


def app_key(report: Report) -> str:
    return _app_key(report.app_id, report.app_version, report.platform)


@functools.lru_cache(maxsize=1024)
def _app_key(app_id: str | None, version: str | None, platform: str | None) -> str:
    return json.dumps([app_id or "", version or "", platform or ""], separators=(",", ":"))


def pinset_key(report: Report) -> str:
    return _pinset_key(report.known_pins, report.pins_expiration)


@functools.lru_cache(maxsize=1024)
def _pinset_key(pins: tuple[str, ...], expiration: str | None) -> str:
    return json.dumps([list(pins), expiration], separators=(",", ":"))


@functools.lru_cache(maxsize=64)
def _day_name(day_number: int) -> str:
    return time.strftime("%Y%m%d", time.gmtime(day_number * 86_400))


def _day_parts(received_ms: int, retention_s: int) -> tuple[str, str, int]:
    """UTC day (YYYYMMDD), hour ("HH") and the day keys' expiry (unix s) of a report."""
    day_number = received_ms // 86_400_000
    hour = received_ms // 3_600_000 % 24
    return _day_name(day_number), f"{hour:02d}", (day_number + 1) * 86_400 + retention_s


# Fields of one report inside a script argument. Every value is a number, a hex digest,
# a normalised hostname, a fixed word or JSON, and validated text never holds a control
# character, so a tab cannot occur inside a field.
SEP = "\t"


class _Script:
    """EVALSHA without redis-py's per-pipeline SCRIPT EXISTS round trip."""

    def __init__(self, name: str) -> None:
        self.source = _script("common") + _script(name)  # EVAL scripts cannot import
        self.sha = hashlib.sha1(self.source.encode("utf-8"), usedforsecurity=False).hexdigest()

    def queue(self, pipe: Any, keys: list[str], args: list[Any]) -> None:
        pipe.execute_command("EVALSHA", self.sha, len(keys), *keys, *args)


class ReportStore:
    """The write side of the key schema in ``keys``."""

    def __init__(self, client: redis.Redis, keys: Keys, *, retention_s: int, host_cap: int) -> None:
        self.client = client
        self.keys = keys
        self.retention_s = retention_s
        self.host_cap = host_cap
        self._host = _Script("host")
        self._global = _Script("global")

    def _days(self, items: list[Stamped]) -> tuple[dict[str, int], list[int], list[str]]:
        """UTC days of a batch (numbered from 1 for the script), their expiries, and for
        each report "<day number>\t<hour>"."""
        days: dict[str, int] = {}
        expires: list[int] = []
        when: list[str] = []
        for item in items:
            day, hour, expire_at = _day_parts(item.report.received_ms, self.retention_s)
            index = days.get(day)
            if index is None:
                index = days[day] = len(days) + 1
                expires.append(expire_at)
            when.append(f"{index}{SEP}{hour}")
        return days, expires, when

    def _queue_host(self, pipe: Any, hostname: str, items: list[Stamped]) -> None:
        hk = self.keys.host(hostname)
        days, expires, when = self._days(items)
        records: list[str] = []
        versions: dict[str, None] = {}
        for item, day_hour in zip(items, when, strict=True):
            r = item.report
            risk = "0"
            if r.classification == "public-trust" and r.enforce is False:
                risk = "1:" + (r.app_version or "")
                versions[r.app_version or ""] = None
            result = r.validation_result if r.validation_result is not None else "none"
            records.append(SEP.join((
                str(item.seq), str(r.received_ms), day_hour, r.chain.fingerprint, app_key(r),
                str(result), r.enforcement, pinset_key(r), r.device, risk, ",".join(r.flags))))
        day_keys = [k for d in days for k in (hk.day(d), hk.devices_day(d))]
        self._host.queue(pipe, [*hk.fixed(), *day_keys,
                                *(hk.breaking_version(v) for v in versions)],
                         [items[0].writer, self.retention_s, self.host_cap, hostname,
                          len(days), *expires, len(versions), *versions, *records])

    def _queue_global(self, pipe: Any, items: list[Stamped]) -> None:
        g = self.keys.glob
        days, expires, when = self._days(items)
        chains: dict[str, int] = {}
        chain_keys: list[str] = []
        chain_args: list[Any] = []
        records: list[str] = []
        for item, day_hour in zip(items, when, strict=True):
            r = item.report
            fp = r.chain.fingerprint
            index = chains.get(fp)
            if index is None:
                index = chains[fp] = len(chains) + 1
                chain_keys += [g.chain(fp), g.chain_hosts(fp),
                               *(g.cert(h) for h in r.chain.cert_hashes)]
                chain_args += [fp, r.classification, r.label or "", r.port,
                               len(r.chain.ders), *r.chain.ders]
            records.append(SEP.join((str(item.seq), str(r.received_ms), day_hour, r.hostname,
                                     str(index), r.device)))
        day_keys = [k for d in days
                    for k in (g.day(d), g.day_hosts(d), g.day_chains(d), g.devices_day(d))]
        self._global.queue(pipe, [*g.fixed(), *day_keys, *chain_keys],
                           [items[0].writer, self.retention_s, CHAIN_HOSTS_CAP, len(days),
                            *expires, len(chains), *chain_args, *records])

    def write(self, items: Sequence[Stamped]) -> int:
        """Apply a batch of one writer's reports, in sequence order; returns how many were new.

        The host scripts run first and the global one only after them, so a record Redis
        refuses (PoisonRecord) has been counted nowhere. StorageUnavailable means Redis did
        not confirm everything: replaying the batch is safe.
        """
        if not items:
            return 0
        by_host: dict[str, list[int]] = {}
        for i, item in enumerate(items):
            by_host.setdefault(item.report.hostname, []).append(i)
        results = self._run([lambda pipe, h=h, ix=ix: self._queue_host(
            pipe, h, [items[i] for i in ix]) for h, ix in by_host.items()])
        poison = [i for res, ix in zip(results, by_host.values(), strict=True)
                  if isinstance(res, redis.ResponseError) and "WRONGTYPE" in str(res) for i in ix]
        if poison:
            raise PoisonRecord(poison, "a collector key has the wrong type")
        return int(self._run([lambda pipe: self._queue_global(pipe, list(items))])[0])

    def _run(self, queue: list[Any]) -> list[Any]:
        """One pipelined round trip; loads the scripts once if Redis lost them."""
        for attempt in (1, 2):
            try:
                with self.client.pipeline(transaction=False) as pipe:
                    for add in queue:
                        add(pipe)
                    results: list[Any] = pipe.execute(raise_on_error=False)
            except redis.RedisError as exc:
                raise StorageUnavailable(type(exc).__name__) from exc
            if attempt == 1 and any(isinstance(r, redis.exceptions.NoScriptError)
                                    for r in results):
                self._load_scripts()
                continue
            for res in results:
                if isinstance(res, Exception) and "WRONGTYPE" not in str(res):
                    raise StorageUnavailable(type(res).__name__) from res
            return results
        raise StorageUnavailable("NoScriptError")

    def _load_scripts(self) -> None:
        try:
            for script in (self._host, self._global):
                self.client.script_load(script.source)
        except redis.RedisError as exc:
            raise StorageUnavailable(type(exc).__name__) from exc

    def run_id(self) -> str:
        """The server's run id: a change means a restart that may have lost the last writes."""
        try:
            if isinstance(self.client, RedisCluster):  # any primary restarting counts
                infos = self.client.info("server", target_nodes=RedisCluster.PRIMARIES)
                return ",".join(sorted(str(i.get("run_id", "")) for i in infos.values()))
            info = self.client.info("server")
        except redis.RedisError as exc:
            raise StorageUnavailable(type(exc).__name__) from exc
        return str(info.get("run_id", ""))
