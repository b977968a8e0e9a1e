"""Prometheus metrics: a fixed set of names with bounded labels only.

Labels never carry report text: ``path`` is redis|spool, ``reason`` a problem slug from a fixed
set, ``endpoint`` the Flask route name (not the URL), ``status`` the HTTP code, ``kind`` a
Redis error class bucket. gunicorn runs several workers, so when ``PROMETHEUS_MULTIPROC_DIR``
is set (``serve`` points it at ``<data dir>/metrics`` before any worker imports this module)
counters and histograms live in per-process files that any worker sums at scrape time.
Spool depth and the degraded flag are read live at scrape time instead: the spool directory
is shared by all workers, so one scan gives the whole picture.
"""

from __future__ import annotations

import functools
import os
import threading
import weakref
from collections.abc import Iterator, Mapping
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Protocol

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from collector.alerts.deliver import DeliveryStats, rule_label
from collector.intake.rejection import status_reason

if TYPE_CHECKING:
    from collector.durable.ingest import Ingestor, IngestStats

disable_created_metrics()  # type: ignore[no-untyped-call]  # the *_created series only double the exposition size
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
REGISTRY = CollectorRegistry(auto_describe=True)
_P = "pin_collector_"

ACCEPTED = Counter(_P + "reports_accepted_total", "Reports answered 204, by where they "
                   "became durable.", ["path"], registry=REGISTRY)
REJECTED = Counter(_P + "reports_rejected_total", "Reports refused, by problem reason.",
                   ["reason"], registry=REGISTRY)
REQUESTS = Counter(_P + "http_requests_total", "Requests by route name and status.",
                   ["endpoint", "status"], registry=REGISTRY)
DURATION = Histogram(_P + "http_request_duration_seconds", "Request duration by route name.",
                     ["endpoint"], registry=REGISTRY,
                     buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10))
REDIS_ERRORS = Counter(_P + "redis_errors_total", "Redis failures seen by the report writer.",
                       ["kind"], registry=REGISTRY)
REPLAYED = Counter(_P + "spool_replayed_total", "Spooled reports written to Redis later.",
                   registry=REGISTRY)
DEAD_LETTERED = Counter(_P + "dead_lettered_total", "Records Redis refused for good.",
                        registry=REGISTRY)
LOG_LINES_DROPPED = Counter(_P + "log_lines_dropped_total", "Access-log lines dropped "
                            "because the log reader fell behind.", registry=REGISTRY)
REFUSED = Counter(_P + "spool_refused_total", "Reports neither Redis nor the spool could take.",
                  registry=REGISTRY)
SPOOL_TORN = Counter(_P + "spool_torn_total", "Torn segment tails skipped by a replay (a "
                    "crash mid-append: never acknowledged).", registry=REGISTRY)
SPOOL_QUARANTINED = Counter(_P + "spool_quarantined_total", "Corrupt spool regions moved to "
                            "quarantine/ by a replay (CRC mismatch).", registry=REGISTRY)
OUTBOX_OVERFLOWS = Counter(_P + "writer_outbox_overflows_total", "Times a writer's in-memory "
                           "outbox was full and it caught up from the spool instead.",
                           registry=REGISTRY)
WRITER_BATCHES = Counter(_P + "writer_batches_total", "Batches the background writers sent to "
                         "Redis (the mean batch: writer_batched_reports_total over this).",
                         registry=REGISTRY)
WRITER_BATCHED = Counter(_P + "writer_batched_reports_total", "Reports in those batches.",
                         registry=REGISTRY)
SPOOL_SYNC_ERRORS = Counter(_P + "spool_sync_errors_total", "Background spool fsyncs that "
                            "failed (COLLECTOR_SPOOL_FSYNC=interval).", registry=REGISTRY)
RATE_LIMIT_FALLBACK = Counter(_P + "rate_limit_fallback_total", "Rate-limit checks made by "
                              "the per-worker fallback because Redis did not answer.",
                              registry=REGISTRY)
# Alerts: ``rule`` is one of the four rule names (else "other"), ``destination`` a configured
# destination id (webhook:N / slack:N, never the URL) or "unknown".
ALERTS_FIRED = Counter(_P + "alerts_fired_total", "Alerts fired (enqueued for delivery), by "
                       "rule.", ["rule"], registry=REGISTRY)
ALERTS_DELIVERED = Counter(_P + "alerts_delivered_total", "Alerts a destination accepted "
                           "(2xx).", ["rule", "destination"], registry=REGISTRY)
ALERTS_RETRIED = Counter(_P + "alerts_retried_total", "Delivery attempts after a failed one.",
                         ["rule", "destination"], registry=REGISTRY)
ALERTS_DROPPED = Counter(_P + "alerts_dropped_total", "Alerts given up undelivered after a "
                         "day.", ["rule", "destination"], registry=REGISTRY)
_ALERT_COUNTERS = {"delivered": ALERTS_DELIVERED, "retried": ALERTS_RETRIED,
                   "dropped": ALERTS_DROPPED}

_REASONS = frozenset({
    "malformed-json", "invalid-report", "unsupported-media-type", "unsupported-content-encoding",
    "body-too-large", "unavailable", "rate-limited", "too-many-chains", "internal-error",
    "bad-query",
    "storage-unavailable",
    *(status_reason(s) for s in HTTPStatus),
})
_ENDPOINT_OK = frozenset("abcdefghijklmnopqrstuvwxyz_.")
_seen: weakref.WeakKeyDictionary[Ingestor, dict[str, int]] = weakref.WeakKeyDictionary()
_seen_alerts: weakref.WeakKeyDictionary[object, dict[tuple[str, ...], int]] = \
    weakref.WeakKeyDictionary()
_lock = threading.Lock()


def reason_label(reason: str | None) -> str:
    return reason if reason in _REASONS else "other"


def endpoint_label(endpoint: str | None) -> str:
    if not endpoint or not set(endpoint) <= _ENDPOINT_OK:
        return "unmatched"
    return endpoint


def error_kind(name: str) -> str:
    for needle, kind in (("Timeout", "timeout"), ("Connection", "connection"),
                         ("Loading", "loading"), ("ReadOnly", "readonly")):
        if needle in name:
            return kind
    return "other"


@functools.lru_cache(maxsize=512)
def _children(endpoint: str | None, status: int) -> tuple[Any, Any]:
    """Label lookups cost more than the increment; the label sets are small and fixed."""
    label = endpoint_label(endpoint)
    return REQUESTS.labels(label, str(status)), DURATION.labels(label)


@functools.lru_cache(maxsize=2)
def _accepted(path: str) -> Any:
    return ACCEPTED.labels(path)


def rate_limit_fallback() -> None:
    """A rate-limit check the per-worker limiter made because Redis did not answer."""
    RATE_LIMIT_FALLBACK.inc()


def accepted(path: str) -> None:
    """Count a 204 by where it became durable ("spool" or "redis")."""
    _accepted(path).inc()


def observe(endpoint: str | None, status: int, seconds: float) -> None:
    requests, duration = _children(endpoint, status)
    requests.inc()
    duration.observe(seconds)


# The ingestor's running totals (and its spool's) that each feed one unlabelled counter.
_TOTALS = {"replayed": REPLAYED, "dead": DEAD_LETTERED, "refused": REFUSED,
           "torn": SPOOL_TORN, "quarantined": SPOOL_QUARANTINED, "overflows": OUTBOX_OVERFLOWS,
           "sync_errors": SPOOL_SYNC_ERRORS, "batches": WRITER_BATCHES,
           "batched": WRITER_BATCHED}


def sync_ingestor(ingestor: Ingestor) -> None:
    """Turn the ingestor's running totals into counter increments (deltas since last sync)."""
    stats: IngestStats = ingestor.stats
    with _lock:  # the writer's tick and a scrape may sync at once: read and swap as one
        spool = getattr(ingestor, "spool", None)
        now = {"replayed": stats.replayed, "dead": stats.dead_lettered, "refused": stats.refused,
               **{k: getattr(stats, k, 0) for k in ("overflows", "batches", "batched")},
               **{k: getattr(spool, k, 0) for k in ("torn", "quarantined", "sync_errors")},
               **{"err:" + k: v for k, v in list(stats.redis_errors.items())}}
        before = _seen.get(ingestor, {})
        _seen[ingestor] = now
    for name, value in now.items():
        delta = value - before.get(name, 0)
        if delta <= 0:
            continue
        if name in _TOTALS:
            _TOTALS[name].inc(delta)
        else:
            REDIS_ERRORS.labels(error_kind(name[4:])).inc(delta)


class FiredStats(Protocol):
    """What the alerter exposes: alerts fired by this process, running total per rule."""

    @property
    def fired(self) -> Mapping[str, int]: ...


def _publish(source: object, now: dict[tuple[str, ...], int]) -> dict[tuple[str, ...], int]:
    """Swap in ``source``'s new totals; the increments since the last sync."""
    with _lock:
        before = _seen_alerts.get(source, {})
        _seen_alerts[source] = now
    return {k: v - before.get(k, 0) for k, v in now.items() if v > before.get(k, 0)}


def sync_alerts(delivery: DeliveryStats | None, fired: FiredStats | None = None) -> None:
    """Turn the deliverer's and the alerter's running totals into counter increments."""
    if delivery is not None:
        totals = delivery.snapshot()
        for (what, rule, dest), delta in _publish(delivery, totals).items():
            _ALERT_COUNTERS[what].labels(rule_label(rule), dest).inc(delta)
    if fired is not None:
        for (rule,), delta in _publish(fired, {
                (r,): n for r, n in list(fired.fired.items())}).items():
            ALERTS_FIRED.labels(rule_label(rule)).inc(delta)


class _Live(Collector):
    """Gauges computed at scrape time from this worker's ingestor and the shared spool."""

    def __init__(self, ingestor: Ingestor) -> None:
        self.ingestor = ingestor

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(_P + "degraded", "1 while this worker cannot write to Redis.",
                                value=1 if self.ingestor.degraded else 0)
        try:
            depth = self.ingestor.spool.depth()
        except Exception:  # a broken spool must not break the scrape; say so instead
            yield GaugeMetricFamily(_P + "spool_up", "1 when the spool can be scanned.", value=0)
            return
        yield GaugeMetricFamily(_P + "spool_up", "1 when the spool can be scanned.", value=1)
        yield GaugeMetricFamily(_P + "spool_bytes", "Bytes waiting in the spool.",
                                value=depth.bytes)
        max_bytes = getattr(self.ingestor.spool, "max_bytes", None)  # for spool_bytes ratios
        if max_bytes is not None:
            yield GaugeMetricFamily(_P + "spool_max_bytes", "COLLECTOR_SPOOL_MAX_BYTES: past "
                                    "it reports go straight to Redis.", value=max_bytes)
        yield GaugeMetricFamily(_P + "spool_segments", "Spool segment files.",
                                value=depth.segments)
        yield GaugeMetricFamily(_P + "spool_oldest_age_seconds",
                                "Age of the oldest pending segment (0 when empty).",
                                value=depth.oldest_age_seconds or 0.0)


def render(ingestor: Ingestor) -> bytes:
    """The exposition text: every process's counters plus this scrape's live gauges."""
    sync_ingestor(ingestor)
    mp_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if mp_dir:
        base = CollectorRegistry()
        MultiProcessCollector(base, path=mp_dir)  # type: ignore[no-untyped-call]
    else:
        base = REGISTRY
    live = CollectorRegistry()
    live.register(_Live(ingestor))
    return generate_latest(base) + generate_latest(live)
