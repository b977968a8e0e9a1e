"""Wiring: the one module that opens Redis and the spool and builds the services on them.

``build`` is called once by ``create_app`` (the result lives in ``app.extensions``, never in a
module global) and ``reader`` by the CLI. Nothing connects until first used (redis-py
connects lazily), so building before gunicorn forks is safe.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from redis import Redis

from collector import datadir
from collector.aggregates.connection import connect
from collector.aggregates.keys import Keys
from collector.aggregates.limits import LimitStore
from collector.aggregates.read.context import ReadContext
from collector.aggregates.writer import ReportStore
from collector.alerts.deliver import Deliverer
from collector.alerts.destinations import destinations
from collector.alerts.expiring import EVERY_S as EXPIRING_EVERY_S
from collector.alerts.expiring import PinsExpiringRule
from collector.alerts.outbox import Outbox
from collector.alerts.rules import Alerter
from collector.alerts.spike import EVERY_S as SPIKE_EVERY_S
from collector.alerts.spike import SpikeRule
from collector.config import Settings
from collector.durable.ingest import Ingestor
from collector.durable.spool import Spool
from collector.intake.report import Report
from collector.intel.classify import PUBLIC_TRUST, UNKNOWN, Classification, Classifier

EXTENSION = "collector"
_CLASS_CACHE = 4096
READ_TIMEOUT_S = 2.0
# The deliverer's client blocks up to 1 s in XREADGROUP: its socket timeout must exceed that.
DELIVER_TIMEOUT_S = 5.0


@dataclass
class Services:
    settings: Settings
    ingestor: Ingestor
    reads: ReadContext
    classifier: Classifier
    api_tokens: datadir.NamedTokens
    """(name, token) pairs: the name is who a triage change records."""
    device_secret: bytes
    deliverer: Deliverer | None = None
    """Sends the alert outbox to the configured destinations; None when there are none."""
    alerter: Alerter | None = None
    """Fires alerts from the write path's events; None when every rule is off."""
    limits: LimitStore | None = None
    """The shared rate-limit buckets in Redis; None when every COLLECTOR_RATE_LIMIT_* is 0."""
    _classes: OrderedDict[tuple[str, str], tuple[Classification, Classification]] = field(
        default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def classify(self, report: Report) -> Report:
        """Set the pair's class, the chain's own class and the classifier version
        (``report_classes``), each distinct (chain, hostname) classified once per process."""
        key = (report.chain.fingerprint, report.hostname)
        with self._lock:
            found = self._classes.get(key)
        if found is None:
            found = report_classes(self.classifier, report)
            with self._lock:
                self._classes[key] = found
                if len(self._classes) > _CLASS_CACHE:
                    self._classes.popitem(last=False)
        return stamped(report, self.classifier, *found)


def report_classes(classifier: Classifier, report: Report) \
        -> tuple[Classification, Classification]:
    """The pair's class and the chain's own class, as the ingest path decides them.

    The pair's class depends on the host (a public chain is public-trust only for the hosts its
    leaf covers). Validity is checked at the report's own time; device clocks are often wrong,
    so a chain that is publicly trusted at the moment it was received counts too.
    """
    received = datetime.fromtimestamp(report.received_ms / 1000, UTC)
    at = datetime.fromisoformat(report.client_time) if report.client_time else received
    certs = report.chain.certificates
    pair = classifier.classify(certs, report.hostname, at)
    if pair.kind == UNKNOWN and at != received:
        again = classifier.classify(certs, report.hostname, received)
        pair = again if again.kind == PUBLIC_TRUST else pair
    if pair.kind != UNKNOWN:  # a product or public-trust for this host: so is the chain
        chain = pair
    else:
        chain = classifier.classify_chain(certs, at)
        if chain.kind == UNKNOWN and at != received:
            again = classifier.classify_chain(certs, received)
            chain = again if again.kind == PUBLIC_TRUST else chain
    return pair, chain


def stamped(report: Report, classifier: Classifier, pair: Classification,
            chain: Classification) -> Report:
    """The report with its pair class, chain class and the classifier's version set.

    A copy of the instance dict, not ``dataclasses.replace``: that runs ``__init__`` again, a
    frozen setattr per field (~15 µs a report on the ingest path, ~1 µs this way), for fields
    ``formats.build`` already set."""
    copy = object.__new__(Report)
    copy.__dict__.update(report.__dict__, classification=pair.kind, label=pair.label,
                         chain_classification=chain.kind, chain_label=chain.label,
                         class_version=classifier.version)
    return copy


def _redis_url(settings: Settings) -> str:
    if not settings.redis_url:
        raise RuntimeError("REDIS_URL is not set: start the collector with `pin-collector serve`")
    return settings.redis_url


def reader(settings: Settings, *, timeout: float = READ_TIMEOUT_S,
           classifier: Classifier | None = None) -> ReadContext:
    """What the read views take: a reading client (one retry: reads are idempotent) and the
    classifier that decides whether a stored class is current (built from settings if None)."""
    client = connect(_redis_url(settings), timeout, pool_size=16, retries=1)
    if classifier is None:
        classifier = Classifier.from_files(settings.public_roots, settings.products_file)
    return ReadContext(client, Keys(settings.key_prefix), settings.retention_days, classifier)


def deliverer(settings: Settings, keys: Keys, consumer: str) -> Deliverer | None:
    """This worker's alert deliverer, on its own client (a sender thread per destination);
    None when no destination is configured (create_app starts it, worker_exit closes it)."""
    dests = destinations(settings.alert_webhooks, settings.alert_slack_webhooks,
                         settings.alert_webhook_secret)
    if not dests:
        return None
    client = connect(_redis_url(settings), DELIVER_TIMEOUT_S, pool_size=len(dests) + 2,
                     retries=1)
    return Deliverer(client, keys.alerts.outbox, dests, consumer)


def alerter(settings: Settings, client: Redis, keys: Keys) -> Alerter | None:
    """The alerter, whenever a rule is on: every alert goes to the log (``GET /v1/alerts``),
    and to the outbox once per configured destination (none without destinations)."""
    if not settings.alert_rules:
        return None
    ids = [d.id for d in destinations(settings.alert_webhooks, settings.alert_slack_webhooks)]
    outbox = Outbox(client, keys, destinations=ids, cooldown_s=settings.alert_cooldown_seconds)
    return Alerter(client, keys, outbox, rules=settings.alert_rules,
                   public_url=settings.public_url)


def limits(settings: Settings, keys: Keys, secret: bytes) -> LimitStore | None:
    """The shared rate limits, on their own small pool (the request threads use it), when
    any limit is on; with every limit off nothing is built and no request touches Redis."""
    if not (settings.rate_limit_per_minute or settings.rate_limit_global_per_minute
            or settings.rate_limit_chains_per_hour):
        return None
    client = connect(_redis_url(settings), settings.redis_timeout_seconds, pool_size=8)
    return LimitStore(client, keys, secret)


def build(settings: Settings) -> Services:
    keys = Keys(settings.key_prefix)
    writer_client = connect(_redis_url(settings), settings.redis_timeout_seconds)
    classifier = Classifier.from_files(settings.public_roots, settings.products_file)
    reads = reader(settings, classifier=classifier)
    store = ReportStore(writer_client, keys, retention_s=settings.retention_seconds,
                        host_cap=settings.host_cap)
    writer = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"
    spool = Spool(Path(settings.data_dir) / "spool", max_bytes=settings.spool_max_bytes,
                  owner=writer, fsync=settings.spool_fsync)
    tokens, _ = datadir.api_tokens(settings.data_dir, settings.api_tokens)
    ingestor = Ingestor(store, spool, writer)
    alert = alerter(settings, writer_client, keys)
    if alert is not None:
        store.on_events = alert.handle  # on the writer thread, after each host script
        spike = SpikeRule(writer_client, keys, alert, spike_min=settings.alert_spike_min,
                          owner=writer)
        ingestor.add_job("spike", SPIKE_EVERY_S, spike.run)
        expiring = PinsExpiringRule(writer_client, keys, alert,
                                    days=settings.alert_pin_expiry_days,
                                    retention_days=settings.retention_days, owner=writer)
        ingestor.add_job("pins-expiring", EXPIRING_EVERY_S, expiring.run)
    secret = datadir.device_secret(settings.data_dir, settings.device_secret)
    return Services(
        alerter=alert,
        limits=limits(settings, keys, secret),
        deliverer=deliverer(settings, keys, writer),
        settings=settings,
        ingestor=ingestor,
        reads=reads,
        classifier=classifier,
        api_tokens=tokens,
        device_secret=secret,
    )

