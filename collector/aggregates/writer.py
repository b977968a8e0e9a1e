"""Writes reports into Redis: a batch is one script per host plus one global script.

Each report touches two slots: its host's (``{h:HID}``) and the global one (``{g}``). Each
script first checks its slot's (writer, sequence) high-water mark, so replaying a report
after a lost reply or a Redis restart never counts it twice, and checks key types before
writing, so a runtime error can never leave half a batch behind. Scripts sum a batch before
writing: Redis work grows with distinct hosts/chains/apps per batch, not with reports.

Alert events (a new (host, chain) pair; the first enforcing failure on a public-trust pair)
are decided by the host script where the report is counted, so two writers or a replay never
decide one twice. The script keeps them in the host's ``events`` list until ``on_events`` has
returned, then the writer removes them: a lost reply only delays an event to the next write
to that host (a replay of the batch, typically), and the alerter's cooldown dedupes it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import redis
from redis.cluster import RedisCluster

from collector.aggregates import scripts
from collector.aggregates.keys import Keys
from collector.intake.report import Report
from collector.intel.classify import PUBLIC_TRUST

CHAIN_HOSTS_CAP = 1000
NEW_PAIR = "new-pair"
FIRST_FAILING = "first-failing"

log = logging.getLogger("collector.writer")


@dataclass(frozen=True)
class PairEvent:
    """An event the host script decided atomically for one (host, chain) pair.

    ``kind`` is NEW_PAIR or FIRST_FAILING; classification and label are the pair's; reports,
    devices and first_seen_ms are the pair's figures right after the write; pins are the
    chain's SPKI pins when the batch held the chain (else empty).
    """

    hostname: str
    fingerprint: str
    kind: str
    classification: str
    label: str | None
    reports: int = 0
    devices: int = 0
    first_seen_ms: int = 0
    pins: tuple[str, ...] = ()


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


def _risk(r: Report) -> str:
    """"F": an enforcing client failed on a public-trust pair (losing service now); "B": a
    report-only one (at risk if it enforced); "0": neither."""
    if r.classification != PUBLIC_TRUST or r.enforce is None:
        return "0"
    return "F" if r.enforce else "B"


# Fields of one report inside a script argument. Every value is a number, a hex digest,
# a normalised hostname, a fixed word or JSON, and validated text never holds a control
# character, so a tab cannot occur inside a field.
SEP = "\t"


class _Script:
    """EVALSHA without redis-py's per-pipeline SCRIPT EXISTS round trip."""

    def __init__(self, name: str) -> None:
        self.source = scripts.source(name)
        self.sha = hashlib.sha1(self.source.encode("utf-8"), usedforsecurity=False).hexdigest()

    def queue(self, pipe: Any, keys: list[str], args: list[Any]) -> None:
        pipe.execute_command("EVALSHA", self.sha, len(keys), *keys, *args)


class MarkCleanup(Protocol):
    """Drops retired writers' marks from the hosts a batch touches (``retention``).

    ``plan`` gives (host ``applied`` key, writer ids to HDEL, hostname, token) per host that
    needs it; ``done`` is told once Redis has run those HDELs.
    """

    def plan(self, hostnames: Sequence[str]) -> list[tuple[str, tuple[str, ...], str, int]]: ...

    def done(self, plan: list[tuple[str, tuple[str, ...], str, int]]) -> None: ...


class ReportStore:
    """The write side of the key schema in ``keys``."""

    def __init__(self, client: redis.Redis, keys: Keys, *, retention_s: int, host_cap: int,
                 on_events: Callable[[list[PairEvent]], None] | None = None) -> None:
        self.client = client
        # Told the events of each host script (wiring: the alerter); None records none.
        self.on_events = on_events
        self.keys = keys
        self.retention_s = retention_s
        self.host_cap = host_cap
        self._host = _Script("host")
        self._global = _Script("global")
        self.cleanup: MarkCleanup | None = None  # set by retention.Janitor

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
        chains: dict[str, int] = {}
        verdict: dict[str, tuple[str, str, str]] = {}  # the pair's class: the latest report's
        risky_apps: dict[str, int] = {}
        records: list[str] = []
        for item, day_hour in zip(items, when, strict=True):
            r = item.report
            app, test = app_key(r), r.is_test
            index, risk = 0, "0"
            if not test:
                index = chains.setdefault(r.chain.fingerprint, len(chains) + 1)
                verdict[r.chain.fingerprint] = (r.classification, r.label or "",
                                                r.class_version or "")
                risk = _risk(r)
                if risk != "0":
                    risky_apps.setdefault(app, len(risky_apps) + 1)
            result = r.validation_result if r.validation_result is not None else "none"
            records.append(SEP.join((
                str(item.seq), str(r.received_ms), r.device, day_hour, str(index), app,
                str(result), r.enforcement, pinset_key(r), risk, ",".join(r.flags),
                "1" if test else "0")))
        day_keys = [k for d in days for k in (hk.day(d), hk.devices_day(d), hk.failing_day(d),
                                              hk.breaking_day(d))]
        pair_keys = [k for fp in chains
                     for k in (hk.pair(fp), hk.pair_devices(fp), hk.pair_apps(fp),
                               *(k for d in days
                                 for k in (hk.pair_day(fp, d), hk.pair_devices_day(fp, d))))]
        app_keys = [k for a in risky_apps for k in (hk.failing_app(a), hk.breaking_app(a))]
        self._host.queue(pipe, [*hk.fixed(), *day_keys, *pair_keys, *app_keys],
                         [items[0].writer, self.retention_s, self.host_cap, hostname,
                          hk.pair_prefix, len(days), *expires, len(chains),
                          *(v for fp in chains for v in (fp, *verdict[fp])),
                          len(risky_apps), *risky_apps,
                          "1" if self.on_events is not None else "0", *records])

    def _queue_global(self, pipe: Any, items: list[Stamped]) -> None:
        g = self.keys.glob
        days, expires, when = self._days(items)
        chains: dict[str, int] = {}
        first: dict[str, Report] = {}  # certificates and port: as the chain was first seen
        verdict: dict[str, tuple[str, str, str]] = {}  # its class: the latest report's
        records: list[str] = []
        for item, day_hour in zip(items, when, strict=True):
            r = item.report
            fp = r.chain.fingerprint
            index, risk = 0, "0"
            if not r.is_test:
                index = chains.setdefault(fp, len(chains) + 1)
                first.setdefault(fp, r)
                # A record spooled before chain classes existed carries its pair class and no
                # version (so the read side sees it as stale and recomputes).
                verdict[fp] = (r.chain_classification or r.classification,
                               (r.chain_label if r.chain_classification else r.label) or "",
                               r.class_version or "")
                risk = _risk(r)
            records.append(SEP.join((str(item.seq), str(r.received_ms), r.device, day_hour,
                                     r.hostname, str(index), r.classification, risk,
                                     "1" if r.is_test else "0")))
        day_keys = [k for d in days for k in (g.day(d), g.day_hosts(d), g.day_chains(d),
                                              g.devices_day(d), g.day_failing(d),
                                              g.day_breaking(d))]
        chain_keys: list[str] = []
        chain_args: list[Any] = []
        for fp in chains:
            chain = first[fp].chain
            chain_keys += [g.chain(fp), g.chain_hosts(fp),
                           *(k for d in days for k in (g.chain_day(fp, d),
                                                       g.chain_hosts_day(fp, d))),
                           *(g.cert(h) for h in chain.cert_hashes)]
            chain_args += [fp, *verdict[fp], first[fp].port, len(chain.ders), *chain.ders]
        self._global.queue(pipe, [*g.fixed(), *day_keys, *chain_keys],
                           [items[0].writer, self.retention_s, CHAIN_HOSTS_CAP, len(days),
                            *expires, len(chains), *chain_args, *records])

    def write(self, items: Sequence[Stamped]) -> int:
        """Apply a batch of one writer's reports, in sequence order; returns how many were new.

        The host scripts run first and the global one only after them, so a record Redis
        refuses (PoisonRecord) has been counted nowhere. StorageUnavailable means Redis did
        not confirm everything: replaying the batch is safe. In the same round trip, after
        the host scripts, ``cleanup`` drops retired writers' marks from the batch's hosts.
        """
        if not items:
            return 0
        by_host: dict[str, list[int]] = {}
        for i, item in enumerate(items):
            by_host.setdefault(item.report.hostname, []).append(i)
        cleanup = self.cleanup
        drop = cleanup.plan(list(by_host)) if cleanup is not None else []
        results = self._run([*(lambda pipe, h=h, ix=ix: self._queue_host(
            pipe, h, [items[i] for i in ix]) for h, ix in by_host.items()),
            *(lambda pipe, k=k, ids=ids: pipe.execute_command("HDEL", k, *ids)
              for k, ids, *_ in drop)])[: len(by_host)]
        if cleanup is not None and drop:
            cleanup.done(drop)
        poison = [i for res, ix in zip(results, by_host.values(), strict=True)
                  if isinstance(res, redis.ResponseError) and "WRONGTYPE" in str(res) for i in ix]
        if poison:
            raise PoisonRecord(poison, "a collector key has the wrong type")
        if self.on_events is not None:
            self._events(items, list(by_host), results)
        return int(self._run([lambda pipe: self._queue_global(pipe, list(items))])[0])

    def _events(self, items: Sequence[Stamped], hostnames: list[str], results: list[Any]) -> None:
        """Hand the host scripts' pending events to ``on_events``; once it returns, remove
        them from each host's ``events`` list. Never fails the write: what is not removed is
        handed over again by the next write to that host."""
        pins = {s.report.chain.fingerprint: s.report.chain.pins for s in items}
        events: list[PairEvent] = []
        done: list[tuple[str, str]] = []
        for hostname, res in zip(hostnames, results, strict=True):
            if not isinstance(res, list):
                continue
            for i in range(1, len(res) - 3, 4):
                entry = res[i].decode("utf-8") if isinstance(res[i], bytes) else str(res[i])
                kind, fp, klass, label = [*entry.split(SEP), "", "", ""][:4]
                events.append(PairEvent(hostname, fp, kind, klass, label or None,
                                        int(res[i + 1]), int(res[i + 2]), int(res[i + 3]),
                                        pins.get(fp, ())))
                done.append((self.keys.host(hostname).events, entry))
        if not events or self.on_events is None:
            return
        try:
            self.on_events(events)
        except Exception:
            log.exception("alert events not handled; they stay pending")
            return
        try:
            with self.client.pipeline(transaction=False) as pipe:
                for key, entry in done:
                    pipe.lrem(key, 1, entry)
                pipe.execute()
        except redis.RedisError as exc:
            log.warning("alert events handled but not cleared (%s)", type(exc).__name__)

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
