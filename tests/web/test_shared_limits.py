"""Rate limits shared through Redis: per source, global, new chains per source per hour.

Two apps built on one Redis stand for two workers (or two machines): each has its own
memory, so whatever limit they hold together is held in Redis.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from flask import Flask

from collector import create_app
from collector.aggregates.keys import Keys, source_digest
from collector.aggregates.limits import LimitStore, chain_id
from collector.config import Settings
from collector.web.context import WEB
from collector.web.ratelimit import Limits
from tests.helpers import CHROME_FP, IOS_FP, example, example_doc, free_port, post, snapshot


def _post(app: Flask, name: str, peer: str) -> tuple[int, dict[str, str], bytes]:
    resp = post(app.test_client(), example_doc(name), environ_overrides={"REMOTE_ADDR": peer})
    return resp.status_code, dict(resp.headers), resp.get_data()


Workers = Callable[..., tuple[Flask, Flask]]


@pytest.fixture
def two_workers(settings: Settings) -> Iterator[Workers]:
    """Builds two apps on the test Redis with the given limits; closes them at the end."""
    apps: list[Flask] = []

    def make(**limits: int) -> tuple[Flask, Flask]:
        pair = (create_app(dataclasses.replace(settings, **limits)),
                create_app(dataclasses.replace(settings, **limits)))
        apps.extend(pair)
        return pair

    yield make
    for app in apps:
        app.extensions["collector"].ingestor.close()


def test_two_workers_share_one_budget_per_source(two_workers: Workers) -> None:
    a, b = two_workers(rate_limit_per_minute=1)
    peer = "198.51.100.7"
    assert _post(a, "trustkit-ios.json", peer)[0] == 204
    assert _post(b, "trustkit-ios.json", "198.51.100.200")[0] == 204  # same /24
    status, headers, body = _post(a, "trustkit-ios.json", peer)
    assert status == 429  # burst of 2 per minute, spent across both workers
    assert 1 <= int(headers["Retry-After"]) <= 60
    assert json.loads(body)["type"].endswith("/rate-limited")
    assert _post(b, "trustkit-ios.json", peer)[0] == 429
    assert _post(b, "trustkit-ios.json", "203.0.113.9")[0] == 204  # another source


def test_a_global_budget_across_sources(two_workers: Workers) -> None:
    a, b = two_workers(rate_limit_global_per_minute=1)
    assert _post(a, "trustkit-ios.json", "198.51.100.1")[0] == 204
    assert _post(b, "trustkit-ios.json", "203.0.113.1")[0] == 204
    assert _post(a, "trustkit-ios.json", "192.0.2.1")[0] == 429


def test_a_flooding_source_does_not_drain_the_global_budget(two_workers: Workers) -> None:
    a, _ = two_workers(rate_limit_per_minute=1,
                       rate_limit_global_per_minute=2)
    flood = [_post(a, "trustkit-ios.json", "198.51.100.1")[0] for _ in range(6)]
    assert flood == [204, 204, 429, 429, 429, 429]
    # the global burst is 4: two left for everyone else, refused reports took none of it
    assert [_post(a, "trustkit-ios.json", f"203.0.{i}.1")[0] for i in range(3)] == \
        [204, 204, 429]


def test_new_chains_per_source_per_hour(two_workers: Workers, rdb: redis.Redis,
                                        settings: Settings) -> None:
    a, b = two_workers(rate_limit_chains_per_hour=2)
    x, y = "198.51.100.7", "2001:db8:1:2::9"
    assert _post(a, "trustkit-ios.json", x)[0] == 204
    assert _post(b, "chromium-hpkp.json", x)[0] == 204
    for app in (a, b):
        assert app.extensions["collector"].ingestor.flush(10)
    before = snapshot(rdb)
    status, headers, body = _post(b, "trustkit-ios-captured-2015.json", x)  # a third chain
    assert status == 429
    assert json.loads(body)["type"].endswith("/too-many-chains")
    assert 1 <= int(headers["Retry-After"]) <= 3600
    for app in (a, b):
        assert app.extensions["collector"].ingestor.flush(10)
    assert snapshot(rdb) == before  # refused: nothing stored, not even in the source's set
    # a chain the source already sent this hour is always welcome, whichever worker takes it
    assert _post(b, "trustkit-ios.json", x)[0] == 204
    assert _post(a, "trustkit-android.json", x)[0] == 204  # the iOS chain without its root
    assert _post(a, "trustkit-ios-captured-2015.json", y)[0] == 204  # another source
    sets = [k for k in rdb.scan_iter(f"{settings.key_prefix}:{{r:*}}:chains:*")]
    assert len(sets) == 2
    members = {int(m) for k in sets for m in rdb.smembers(k)}
    assert chain_id(IOS_FP) in members and chain_id(CHROME_FP) in members
    assert all(rdb.object("encoding", k) == b"intset" for k in sets)


def test_limit_keys_name_no_address(two_workers: Workers, rdb: redis.Redis,
                                    settings: Settings) -> None:
    a, _ = two_workers(rate_limit_per_minute=5,
                       rate_limit_global_per_minute=100, rate_limit_chains_per_hour=5)
    assert _post(a, "trustkit-ios.json", "198.51.100.7")[0] == 204
    secret = a.extensions["collector"].device_secret
    sid = source_digest(secret, "198.51.100.0/24")
    limits = Keys(settings.key_prefix).limits
    names = {k.decode() for k in rdb.scan_iter(f"{settings.key_prefix}:{{r*")}
    assert limits.source_rate(sid) in names and limits.global_rate in names
    assert not any("198.51" in n for n in names)
    assert 0 < rdb.pttl(limits.source_rate(sid)) <= 60_000 / 5 + 10  # gone when refilled


def test_every_limit_off_builds_no_client(app: Flask) -> None:
    """The default: no limiter, no Redis client for limits, no round trip on the route."""
    assert app.extensions["collector"].limits is None
    assert app.extensions[WEB].limiter is None


def test_without_redis_each_worker_falls_back_to_its_own_buckets(
        settings: Settings, tmp_path: Path) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens: refused at once
    app = create_app(dataclasses.replace(settings, redis_url=dead, rate_limit_per_minute=1,
                                         rate_limit_chains_per_hour=1,
                                         data_dir=str(tmp_path / "d")))
    try:
        limiter = app.extensions[WEB].limiter
        assert isinstance(limiter, Limits)
        peer = "198.51.100.7"
        assert [_post(app, "trustkit-ios.json", peer)[0] for _ in range(3)] == [204, 204, 429]
        status, _, body = _post(app, "chromium-hpkp.json", "203.0.113.1")
        assert status == 204
        status, _, body = _post(app, "trustkit-ios-captured-2015.json", "203.0.113.1")
        assert (status, json.loads(body)["type"].rsplit("/", 1)[1]) == (429, "too-many-chains")
        text = app.test_client().get("/metrics").get_data(as_text=True)
        line = next(s for s in text.splitlines()
                    if s.startswith("pin_collector_rate_limit_fallback_total "))
        assert float(line.split()[1]) >= 5
    finally:
        app.extensions["collector"].ingestor.close()


def test_the_store_uses_redis_time_and_the_burst(rdb: redis.Redis) -> None:
    store = LimitStore(rdb, Keys("unit"), b"secret")
    assert [store.take("192.0.2.0/24", 60, 3) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = store.take("192.0.2.0/24", 60, 3)
    assert 0.5 <= wait <= 1.0  # one token a second (less what the calls took)
    assert store.take(None, 60, 1) == 0.0 and store.take(None, 60, 1) > 0
    assert store.admit_chain("192.0.2.0/24", IOS_FP, 1, now=7200.5) == 0.0
    assert store.admit_chain("192.0.2.0/24", IOS_FP, 1, now=7201.0) == 0.0
    assert store.admit_chain("192.0.2.0/24", CHROME_FP, 1, now=7201.0) == pytest.approx(3599.0)
    assert store.admit_chain("192.0.2.0/24", CHROME_FP, 1, now=10800.0) == 0.0  # a new hour
    assert example("trustkit-ios.json")  # the golden files are where the tests expect them
