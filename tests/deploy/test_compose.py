"""deploy/compose.yaml: the three services agree with each other and with the other files,
and the Redis it configures really runs with AOF, noeviction and hll-sparse-max-bytes 1000."""

from __future__ import annotations

import ipaddress
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from collector.config import Settings
from collector.server import gunicorn_conf
from collector.server.embedded import redis_binary
from tests.deploy.files import DEPLOY, PORT, dockerfile, env_pairs, exec_form, free_port

COMPOSE: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
SERVICES = COMPOSE["services"]
COLLECTOR, NGINX, REDIS = SERVICES["collector"], SERVICES["nginx"], SERVICES["redis"]


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """container path -> host path or volume name."""
    out = {}
    for entry in service.get("volumes", []):
        source, target = entry.split(":")[:2]
        out[target] = source
    return out


def test_the_collector_runs_the_image_as_built() -> None:
    image = dockerfile()[-1]
    assert COLLECTOR["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}
    assert COLLECTOR["command"] == exec_form(image.last("CMD"))
    data_dir = env_pairs(image.all("ENV"))["COLLECTOR_DATA_DIR"]
    assert COLLECTOR["environment"]["COLLECTOR_DATA_DIR"] == data_dir
    assert mounts(COLLECTOR)[data_dir] in COMPOSE["volumes"]  # a named volume, not the layer
    grace = int(COLLECTOR["stop_grace_period"].rstrip("s"))
    assert grace >= gunicorn_conf.graceful_timeout + 5 + 10
    settings = Settings.from_env(COLLECTOR["environment"])
    assert settings.redis_url == "redis://redis:6379/0" and "redis" in SERVICES


def test_trusted_proxies_name_exactly_the_nginx_container() -> None:
    nginx_ip = NGINX["networks"]["back"]["ipv4_address"]
    trusted = COLLECTOR["environment"]["COLLECTOR_TRUSTED_PROXIES"]
    assert trusted == f"{nginx_ip}/32"
    subnet = COMPOSE["networks"]["back"]["ipam"]["config"][0]["subnet"]
    assert ipaddress.ip_address(nginx_ip) in ipaddress.ip_network(subnet)
    assert "back" in COLLECTOR["networks"] and "back" in REDIS["networks"]
    assert "ports" not in COLLECTOR and "ports" not in REDIS  # only nginx faces the network


def test_nginx_mounts_the_shipped_config_pointing_at_the_collector() -> None:
    conf_source = mounts(NGINX)["/etc/nginx/conf.d/default.conf"]
    conf = (DEPLOY / conf_source).read_text()
    assert conf == (DEPLOY / "nginx/pin-collector.conf").read_text()
    upstream = re.search(r"upstream pin_collector \{\s*server ([\w.-]+):(\d+);", conf)
    assert upstream and upstream[1] == "collector" and int(upstream[2]) == PORT
    for path in re.findall(r"ssl_certificate(?:_key)? (\S+);", conf):
        assert any(path.startswith(target + "/") for target in mounts(NGINX)), path


@pytest.fixture
def compose_redis(tmp_path: Path) -> Any:
    """redis-server with the compose file's config (only dir, port and bind changed)."""
    config = (DEPLOY / mounts(REDIS)["/usr/local/etc/redis/redis.conf"]).read_text()
    assert REDIS["command"] == ["redis-server", "/usr/local/etc/redis/redis.conf"]
    port = free_port()
    changed = config.replace("dir /data", f"dir {tmp_path}").replace(
        "port 6379", f"port {port}").replace("bind 0.0.0.0", "bind 127.0.0.1")
    assert changed.count(str(tmp_path)) == 1 and changed.count(f"port {port}") == 1
    conf = tmp_path / "redis.conf"
    conf.write_text(changed)
    proc = subprocess.Popen([redis_binary(), str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    client = redis.Redis(port=port, socket_timeout=2, decode_responses=True)
    deadline = time.monotonic() + 10
    try:
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.05)
        yield client
    finally:
        client.close()
        proc.terminate()
        proc.wait(10)


def test_the_redis_config_is_what_the_collector_needs(compose_redis: redis.Redis) -> None:
    got = {k: compose_redis.config_get(k)[k]
           for k in ("appendonly", "appendfsync", "maxmemory-policy", "hll-sparse-max-bytes")}
    assert got == {"appendonly": "yes", "appendfsync": "everysec",
                   "maxmemory-policy": "noeviction", "hll-sparse-max-bytes": "1000"}
