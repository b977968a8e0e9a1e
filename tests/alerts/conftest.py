"""Fixtures of the alert tests: a Redis client, keys, and a factory of wired ReportStores."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest
import redis

from collector.aggregates.connection import connect
from collector.aggregates.keys import Keys
from collector.aggregates.writer import ReportStore
from collector.alerts.outbox import Outbox
from collector.alerts.rules import RULES, Alerter

PREFIX = "pc"


class Clock:
    """A wall clock the test moves."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def wall() -> Clock:
    return Clock()


@pytest.fixture
def akeys() -> Keys:
    return Keys(PREFIX)


@pytest.fixture
def make_alerter(redis_server: Any, rdb: redis.Redis, akeys: Keys, wall: Clock) \
        -> Callable[..., Alerter]:
    def make(rules: Iterable[str] = RULES, destinations: tuple[str, ...] = ("webhook:0",),
             cooldown_s: int = 3600, **kw: Any) -> Alerter:
        client = connect(redis_server.url, 1.0)
        outbox = Outbox(client, akeys, destinations=destinations, cooldown_s=cooldown_s)
        return Alerter(client, akeys, outbox, rules=rules, public_url="https://pins.example",
                       wall=wall, **kw)
    return make


@pytest.fixture
def make_store(redis_server: Any, rdb: redis.Redis, akeys: Keys) -> Callable[..., ReportStore]:
    def make(alerter: Alerter | None = None, cap: int = 200) -> ReportStore:
        return ReportStore(connect(redis_server.url, 1.0), akeys, retention_s=86400,
                           host_cap=cap, on_events=alerter.handle if alerter else None)
    return make
