"""Delivery: a background deliverer per worker, draining the alert outbox into destinations.

The outbox (``P:{a}:outbox``, see ``aggregates/keys.py``) holds one entry per (alert,
destination): fields ``id`` (the alert id), ``dest`` (the destination id) and ``alert`` (the
alert JSON). Every worker reads it in the consumer group ``deliver`` under its own consumer
name, so each entry goes to one worker; it stays pending until its destination answered 2xx
(then XACK: at least once, never lost to a crash between send and ack).

Threads, all daemons, none on the request path: one reader (XREADGROUP BLOCK, then the retry
scan about once a second) and one sender per destination, fed by a bounded queue, so a
receiver that hangs until its timeout delays only its own alerts.

Retries: a failed attempt leaves the entry pending and resets its idle time (XCLAIM JUSTID:
idle now counts from the failure); the scan (XPENDING) claims it again (XCLAIM) once idle for
``backoff.delay(deliveries)``: 2 s, 4 s, 8 s … capped at 5 minutes, jittered down by up to
20 %. An entry whose
consumer is another worker is claimed only when idle for the longer of that and the longest
timeout plus a margin: that worker is gone, or is itself waiting out a backoff. An entry
older than a day (its stream id is its enqueue time) is acknowledged without being sent and
counted as dropped. The outbox is trimmed to a day plus a margin (XTRIM MINID).
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import redis

from collector.alerts import backoff
from collector.alerts.destinations import Destination, post

log = logging.getLogger("collector.alerts")

GROUP = "deliver"
RULES = frozenset({"new-public-trust-chain", "enforced-failures", "new-chain", "spike"})
MAX_AGE_S = 86400.0
TRIM_MARGIN_S = 3600.0
TRIM_EVERY_S = 60.0
BLOCK_MS = 1000
BATCH = 32
SCAN_PAGE = 200
SCAN_MAX = 2000
QUEUE_SIZE = 256
ORPHAN_MARGIN_S = 2.0
ERROR_PAUSE_S = 1.0

Post = Callable[[Destination, bytes], tuple[bool, str]]


def rule_label(rule: object) -> str:
    return rule if isinstance(rule, str) and rule in RULES else "other"


class DeliveryStats:
    """Running totals by (rule, destination id); the metrics module turns them into
    counter increments (``web/metrics.py sync_alerts``), as it does the ingestor's."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.delivered: dict[tuple[str, str], int] = defaultdict(int)
        self.retried: dict[tuple[str, str], int] = defaultdict(int)
        self.dropped: dict[tuple[str, str], int] = defaultdict(int)

    def add(self, what: str, rule: str, dest: str) -> None:
        with self._lock:
            getattr(self, what)[(rule, dest)] += 1

    def snapshot(self) -> dict[tuple[str, ...], int]:
        """{(kind, rule, destination): total} with kind delivered|retried|dropped."""
        with self._lock:
            return {(what, rule, dest): n
                    for what in ("delivered", "retried", "dropped")
                    for (rule, dest), n in getattr(self, what).items()}


@dataclass(frozen=True)
class _Job:
    entry: str
    rule: str
    alert: bytes
    attempt: int


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _entry_ms(entry: str) -> int:
    return int(entry.partition("-")[0])


def _entry_id(entry: str) -> tuple[int, int]:
    ms, _, seq = entry.partition("-")
    return int(ms), int(seq or 0)


class Deliverer:
    """One worker's deliverer. ``client`` is its own Redis client (wiring builds it, with a
    socket timeout above ``block_ms`` and a connection per sender thread plus two)."""

    def __init__(self, client: redis.Redis, stream: str, destinations: Sequence[Destination],
                 consumer: str, *, group: str = GROUP, block_ms: int = BLOCK_MS,
                 scan_s: float = 1.0, backoff_scale: float = 1.0, max_age_s: float = MAX_AGE_S,
                 wall: Callable[[], float] = time.time, sender: Post = post,
                 queue_size: int = QUEUE_SIZE, orphan_s: float | None = None) -> None:
        self.client = client
        self.stream = stream
        self.group = group
        self.consumer = consumer
        self.destinations = {d.id: d for d in destinations}
        self.block_ms = block_ms
        self.scan_s = scan_s
        self.backoff_scale = backoff_scale
        self.max_age_s = max_age_s
        self.wall = wall
        self.sender = sender
        self.stats = DeliveryStats()
        # another consumer's entry idle this long is not in that consumer's hands any more
        self.orphan_s = orphan_s if orphan_s is not None else \
            max((d.timeout for d in destinations), default=0.0) + ORPHAN_MARGIN_S
        self._queues: dict[str, queue.Queue[_Job]] = {
            d: queue.Queue(queue_size) for d in self.destinations}
        self._inflight: set[str] = set()
        self._lock = threading.Lock()
        self._failing: set[str] = set()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._group_ready = False
        self._redis_down = False

    # -- life cycle ----------------------------------------------------------------------
    def start(self) -> None:
        if self._threads:
            return
        self._threads.append(threading.Thread(target=self._run, name="alerts-reader",
                                              daemon=True))
        for dest in self.destinations.values():
            self._threads.append(threading.Thread(target=self._send_loop, args=(dest,),
                                                  name=f"alerts-{dest.id}", daemon=True))
        for thread in self._threads:
            thread.start()

    def close(self, timeout: float = 5.0) -> None:
        """Stop reading and sending; an attempt in progress ends by its own timeout. Entries
        not acknowledged stay pending: another worker (or the next start) sends them."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if not any(t.is_alive() for t in self._threads):
            self.client.close()

    # -- reader: new entries, retries, trimming ------------------------------------------
    def _run(self) -> None:
        next_scan = next_trim = 0.0
        while not self._stop.is_set():
            try:
                self._ensure_group()
                self._read()
                now = time.monotonic()
                if now >= next_scan:
                    next_scan = now + self.scan_s
                    self._scan()
                if now >= next_trim:
                    next_trim = now + TRIM_EVERY_S
                    self._trim()
                self._redis_up()
            except redis.RedisError as exc:
                self._group_ready = self._group_ready and "NOGROUP" not in str(exc)
                if not self._redis_down:
                    log.warning("alert outbox unreadable (%s); retrying", type(exc).__name__)
                self._redis_down = True
                self._stop.wait(ERROR_PAUSE_S)
            except Exception:  # never let the deliverer die silently
                log.exception("alert deliverer error")
                self._stop.wait(ERROR_PAUSE_S)

    def _redis_up(self) -> None:
        if self._redis_down:
            log.warning("alert outbox readable again")
        self._redis_down = False

    def _ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            self.client.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    def _room(self) -> int:
        """Free places in the senders' queues: with none, reading or claiming more would only
        spin on entries that stay pending (a hung receiver must not cost ingestion CPU)."""
        return sum(q.maxsize - q.qsize() for q in self._queues.values())

    def _read(self) -> None:
        if self._room() == 0:
            self._stop.wait(self.block_ms / 1000)
            return
        reply: Any = self.client.xreadgroup(self.group, self.consumer, {self.stream: ">"},
                                       count=BATCH, block=self.block_ms)
        for _stream, entries in reply or []:
            for entry_id, fields in entries:
                self._dispatch(_text(entry_id), fields, attempt=1)

    def _dispatch(self, entry: str, fields: dict[Any, Any] | None, attempt: int) -> None:
        """Queue an entry this consumer now owns for its destination's sender."""
        if not fields:  # deleted from the stream (trimmed) while pending: nothing to send
            self.client.xack(self.stream, self.group, entry)
            return
        data = {_text(k): v for k, v in fields.items()}
        alert = data.get("alert")
        dest = self.destinations.get(_text(data.get("dest", "")))
        alert_bytes = alert if isinstance(alert, bytes) else _text(alert or "").encode()
        rule = self._rule(alert_bytes)
        if dest is None:  # configuration changed: that destination is gone
            log.warning("alert %s for an unconfigured destination: dropped", entry)
            self._drop(entry, rule, "unknown")
            return
        if self._too_old(entry):
            self._drop(entry, rule, dest.id)
            return
        with self._lock:
            if entry in self._inflight:
                return
            self._inflight.add(entry)
        try:
            self._queues[dest.id].put_nowait(_Job(entry, rule, alert_bytes, attempt))
        except queue.Full:  # stays pending: the scan hands it over once there is room
            with self._lock:
                self._inflight.discard(entry)

    @staticmethod
    def _rule(alert: bytes) -> str:
        try:
            doc = json.loads(alert)
        except ValueError:
            return "other"
        return rule_label(doc.get("rule") if isinstance(doc, dict) else None)

    def _too_old(self, entry: str) -> bool:
        return self.wall() * 1000 - _entry_ms(entry) > self.max_age_s * 1000

    def _drop(self, entry: str, rule: str, dest: str) -> None:
        self.client.xack(self.stream, self.group, entry)
        self.stats.add("dropped", rule, dest)
        log.warning("alert %s to %s dropped after %.0f s undelivered", entry, dest,
                    self.max_age_s)

    def _scan(self) -> None:
        """Claim pending entries whose backoff has passed, as many as the senders have room
        for; drop those older than a day."""
        if self._room() == 0:
            return
        due: list[tuple[str, int, int]] = []  # (entry, min idle ms, deliveries)
        old: list[str] = []
        start = "-"
        seen = 0
        while seen < SCAN_MAX:
            rows: Any = self.client.xpending_range(self.stream, self.group, min=start, max="+",
                                              count=SCAN_PAGE)
            for row in rows:
                entry = _text(row["message_id"])
                with self._lock:
                    if entry in self._inflight:
                        continue
                if self._too_old(entry):
                    old.append(entry)
                    continue
                deliveries = int(row["times_delivered"])
                wait = backoff.delay(deliveries, entry, scale=self.backoff_scale)
                if _text(row["consumer"]) != self.consumer:
                    wait = max(wait, self.orphan_s)
                if int(row["time_since_delivered"]) >= wait * 1000:
                    due.append((entry, int(wait * 1000), deliveries))
            seen += len(rows)
            if len(rows) < SCAN_PAGE:
                break
            start = "(" + _text(rows[-1]["message_id"])
        for entry in old:
            found: Any = self.client.xrange(self.stream, entry, entry)
            fields = {_text(k): v for k, v in found[0][1].items()} if found else {}
            dest = _text(fields.get("dest", "unknown"))
            alert = fields.get("alert", b"")
            rule = self._rule(alert if isinstance(alert, bytes) else _text(alert).encode())
            self._drop(entry, rule, dest if dest in self.destinations else "unknown")
        for entry, min_idle, deliveries in due[:self._room()]:
            # min_idle: another worker that claimed it meanwhile makes this claim a no-op
            claimed: Any = self.client.xclaim(self.stream, self.group, self.consumer, min_idle,
                                         [entry])
            for claimed_id, fields in claimed:
                if claimed_id is None:
                    continue
                self._dispatch(_text(claimed_id), fields, attempt=deliveries + 1)

    def _trim(self) -> None:
        """Remove entries past a day and a margin, but none the group has not read yet:
        those are read, dropped and counted first."""
        cutoff = int((self.wall() - self.max_age_s - TRIM_MARGIN_S) * 1000)
        groups: Any = self.client.xinfo_groups(self.stream)
        read = [_text(g["last-delivered-id"]) for g in groups if _text(g["name"]) == self.group]
        if not read:
            return
        minid = min((cutoff, 0), _entry_id(read[0]))
        if minid > (0, 0):
            self.client.xtrim(self.stream, minid=f"{minid[0]}-{minid[1]}", approximate=False)

    # -- senders -------------------------------------------------------------------------
    def _send_loop(self, dest: Destination) -> None:
        jobs = self._queues[dest.id]
        while not self._stop.is_set():
            try:
                job = jobs.get(timeout=0.2)
            except queue.Empty:
                continue
            try:
                self._attempt(dest, job)
            except redis.RedisError as exc:  # the entry stays pending: sent again later
                log.warning("alert %s to %s: outbox update failed (%s)", job.entry, dest.id,
                            type(exc).__name__)
            except Exception:
                log.exception("alert %s to %s: delivery error", job.entry, dest.id)
            finally:
                with self._lock:
                    self._inflight.discard(job.entry)

    def _attempt(self, dest: Destination, job: _Job) -> None:
        if job.attempt > 1:
            self.stats.add("retried", job.rule, dest.id)
        try:
            body = dest.payload(job.alert)
        except ValueError:  # not JSON: cannot be summarised for Slack, nor ever will be
            log.warning("alert %s to %s is not JSON: dropped", job.entry, dest.id)
            self._drop(job.entry, job.rule, dest.id)
            return
        ok, detail = self.sender(dest, body)
        if ok:
            self.client.xack(self.stream, self.group, job.entry)
            self.stats.add("delivered", job.rule, dest.id)
            if dest.id in self._failing:
                self._failing.discard(dest.id)
                log.warning("alert destination %s answers again (%s)", dest.id, detail)
            return
        # idle now counts from this failure, not from the claim: the backoff starts here
        self.client.xclaim(self.stream, self.group, self.consumer, 0, [job.entry],
                           justid=True)
        if dest.id not in self._failing:
            self._failing.add(dest.id)
            log.warning("alert delivery to %s failed (%s); retrying with backoff", dest.id,
                        detail)
