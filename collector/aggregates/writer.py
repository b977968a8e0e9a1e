"""Writes reports into Redis: a batch, merged first, is one script per slot it touches.

Each report touches its host's slot (``{h:HID}``), the unsharded global one (``{g}``: totals,
classes, devices) and one or two global shards (``{g:T}``: its host's rankings, its chain's;
``keys`` says which). ``merge`` sums the batch per slot before anything is sent, so a script
receives one increment per distinct counter and each distinct device once per HyperLogLog:
Redis work grows with what is distinct in a batch, not with its reports. Each script first
checks its slot's (writer, sequence) high-water mark, so replaying a report after a lost reply
or a Redis restart never counts it twice, and reads every key it writes before writing, so a
key of the wrong type can never leave half a batch behind. When a replay's batch straddles a
slot's mark (the batch was cut differently the first time), the script applies nothing and
says so, and the writer sends that slot the reports after the mark.

Alert events (a new (host, chain) pair; the first enforcing failure on a public-trust pair)
are decided by the host script where the report is counted, so two writers or a replay never
decide one twice. The script keeps them in the host's ``events`` list until ``on_events`` has
returned, then the writer removes them: a lost reply only delays an event to the next write
to that host (a replay of the batch, typically), and the alerter's cooldown dedupes it.

Certificates (``P:{g:T}:cert:CERT``) are written outside the scripts, ``SET NX`` with a TTL
of R + 1 h: idempotent, so they need no mark; each process sends a chain's certificates at
most once an hour (and again after Redis restarts).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import redis
from redis.cluster import RedisCluster

from collector.aggregates import scripts
from collector.aggregates.keys import Keys
from collector.aggregates.merge import (
    REFRESH_MS,
    Stamped,
    app_key,
    global_call,
    host_call,
    pinset_key,
    shard_call,
    shard_items,
)

__all__ = ["FIRST_FAILING", "NEW_PAIR", "MarkCleanup", "PairEvent", "PoisonRecord",
           "ReportStore", "Stamped", "StorageUnavailable", "app_key", "pinset_key"]

CHAIN_HOSTS_CAP = 1000
NEW_PAIR = "new-pair"
FIRST_FAILING = "first-failing"
CERTS_REMEMBERED = 4096  # chains whose certificates this process sent recently

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


SEP = "\t"  # separates the fields of an event entry


class _Script:
    """EVALSHA without redis-py's per-pipeline SCRIPT EXISTS round trip."""

    def __init__(self, name: str) -> None:
        self.source = scripts.source(name)
        self.sha = hashlib.sha1(self.source.encode("utf-8"), usedforsecurity=False).hexdigest()

    def command(self, keys: list[str], args: list[Any]) -> tuple[Any, ...]:
        return ("EVALSHA", self.sha, len(keys), *keys, *args)


class MarkCleanup(Protocol):
    """Drops retired writers' marks from the hosts a batch touches (``retention``).

    ``plan`` gives (host ``applied`` key, writer ids to HDEL, hostname, token) per host that
    needs it; ``done`` is told once Redis has run those HDELs.
    """

    def plan(self, hostnames: Sequence[str]) -> list[tuple[str, tuple[str, ...], str, int]]: ...

    def done(self, plan: list[tuple[str, tuple[str, ...], str, int]]) -> None: ...


class _Unit:
    """One script call of a batch: its script, the batch's reports it covers (indices), and
    how to build its KEYS and ARGV from reports."""

    __slots__ = ("build", "indices", "result", "script")

    def __init__(self, script: _Script, indices: list[int],
                 build: Callable[[list[Stamped]], tuple[list[str], list[Any]]]) -> None:
        self.script, self.indices, self.build = script, indices, build
        self.result: Any = None


def _straddled(res: Any) -> int | None:
    """The slot's mark when a script applied nothing because the mark falls inside the batch."""
    if isinstance(res, list) and len(res) == 2 and res[0] == -1:
        return int(res[1])
    return None


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
        self._shard = _Script("shard")
        self.cleanup: MarkCleanup | None = None  # set by retention.Janitor
        self._certs_sent: OrderedDict[str, float] = OrderedDict()  # FP -> monotonic s
        self._run_id: str | None = None

    def _host_unit(self, hostname: str, indices: list[int]) -> _Unit:
        hk = self.keys.host(hostname)
        return _Unit(self._host, indices, functools.partial(
            host_call, hk, hostname, retention_s=self.retention_s, cap=self.host_cap,
            events=self.on_events is not None))

    def _global_units(self, items: Sequence[Stamped]) -> list[_Unit]:
        g = self.keys.glob
        units = [_Unit(self._global, list(range(len(items))),
                       functools.partial(global_call, g, retention_s=self.retention_s))]
        for index, ix in sorted(shard_items(g, items).items()):
            units.append(_Unit(self._shard, ix, functools.partial(
                shard_call, g.shards[index], index, retention_s=self.retention_s,
                chain_hosts_cap=CHAIN_HOSTS_CAP)))
        return units

    def _cert_writes(self, items: Sequence[Stamped]) -> tuple[list[tuple[Any, ...]], list[str]]:
        """SET NX and EXPIRE of the certificates of chains not sent within the hour, and
        those chains (to remember once Redis has taken them)."""
        now = time.monotonic()
        out: list[tuple[Any, ...]] = []
        fps: dict[str, None] = {}
        ttl = self.retention_s + REFRESH_MS // 1000
        for item in items:
            r = item.report
            fp = r.chain.fingerprint
            if r.is_test or fp in fps:
                continue
            sent = self._certs_sent.get(fp)
            if sent is not None and now - sent < REFRESH_MS / 1000:
                continue
            fps[fp] = None
            for h, der in zip(r.chain.cert_hashes, r.chain.ders, strict=True):
                key = self.keys.glob.cert(h)
                out += [("SET", key, der, "NX"), ("EXPIRE", key, ttl)]
        return out, list(fps)

    def _certs_done(self, fps: list[str]) -> None:
        now = time.monotonic()
        for fp in fps:
            self._certs_sent[fp] = now
            self._certs_sent.move_to_end(fp)
        while len(self._certs_sent) > CERTS_REMEMBERED:
            self._certs_sent.popitem(last=False)

    def _apply(self, items: Sequence[Stamped], units: list[_Unit],
               extra: list[tuple[Any, ...]]) -> list[Any]:
        """Run the units (and ``extra`` commands) in one round trip; a unit whose slot mark
        falls inside its part of the batch is sent again with the reports after the mark."""
        todo = units
        while todo:
            calls = [u.script.command(*u.build([items[i] for i in u.indices])) for u in todo]
            results = self._run([*calls, *extra])
            extra = []
            again = []
            for u, res in zip(todo, results, strict=False):
                mark = _straddled(res)
                if mark is None:
                    u.result = res
                    continue
                u.indices = [i for i in u.indices if items[i].seq > mark]
                if u.indices:
                    again.append(u)
                else:
                    u.result = 0
            todo = again
        return [u.result for u in units]

    def write(self, items: Sequence[Stamped]) -> int:
        """Apply a batch of one writer's reports, in sequence order; returns how many were new.

        The host scripts run first and the global ones only after them, so a record Redis
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
        units = [self._host_unit(h, ix) for h, ix in by_host.items()]
        results = self._apply(items, units, [("HDEL", k, *ids) for k, ids, *_ in drop])
        if cleanup is not None and drop:
            cleanup.done(drop)
        poison = [i for res, ix in zip(results, by_host.values(), strict=True)
                  if _wrongtype(res) for i in ix]
        if poison:
            raise PoisonRecord(poison, "a collector key has the wrong type")
        if self.on_events is not None:
            self._events(items, list(by_host), results)
        units = self._global_units(items)
        certs, fps = self._cert_writes(items)
        results = self._apply(items, units, certs)
        self._certs_done(fps)
        poison = sorted({i for res, u in zip(results, units, strict=True) if _wrongtype(res)
                         for i in u.indices})
        if poison:
            raise PoisonRecord(poison, "a global collector key has the wrong type")
        return int(results[0])

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

    def _run(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        """One pipelined round trip; loads the scripts once if Redis lost them."""
        for attempt in (1, 2):
            try:
                with self.client.pipeline(transaction=False) as pipe:
                    queue: Any = pipe  # execute_command is untyped in redis-py
                    for command in commands:
                        queue.execute_command(*command)
                    results: list[Any] = pipe.execute(raise_on_error=False)
            except redis.RedisError as exc:
                raise StorageUnavailable(type(exc).__name__) from exc
            if attempt == 1 and any(isinstance(r, redis.exceptions.NoScriptError)
                                    for r in results):
                self._load_scripts()
                continue
            for res in results:
                if isinstance(res, Exception) and not _wrongtype(res):
                    raise StorageUnavailable(type(res).__name__) from res
            return results
        raise StorageUnavailable("NoScriptError")

    def _load_scripts(self) -> None:
        try:
            for script in (self._host, self._global, self._shard):
                self.client.script_load(script.source)
        except redis.RedisError as exc:
            raise StorageUnavailable(type(exc).__name__) from exc

    def run_id(self) -> str:
        """The server's run id: a change means a restart that may have lost the last writes."""
        try:
            if isinstance(self.client, RedisCluster):  # any primary restarting counts
                infos = self.client.info("server", target_nodes=RedisCluster.PRIMARIES)
                found = ",".join(sorted(str(i.get("run_id", "")) for i in infos.values()))
            else:
                info = self.client.info("server")
                found = str(info.get("run_id", ""))
        except redis.RedisError as exc:
            raise StorageUnavailable(type(exc).__name__) from exc
        if found != self._run_id:  # a restart may have lost certificates: send them again
            self._run_id = found
            self._certs_sent.clear()
        return found


def _wrongtype(res: Any) -> bool:
    return isinstance(res, redis.ResponseError) and "WRONGTYPE" in str(res)
