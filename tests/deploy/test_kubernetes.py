"""deploy/kubernetes/base: what the manifests promise, checked against the real collector.

The container's command (the image's ENTRYPOINT with the Deployment's args) runs with the
ConfigMap's and Secret's values as the pod would get them (the Secret's empty values filled,
REDIS_URL pointing at a test Redis on loopback), and every probe of the Deployment is asked
on its port and path.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from collector import create_app
from collector.config import ConfigError, Settings
from collector.server import gunicorn_conf
from collector.server.embedded import RedisServer
from collector.wiring import READ_TIMEOUT_S
from tests.deploy.files import (
    PORT,
    VENV_BIN,
    Running,
    clean_env,
    dockerfile,
    exec_form,
    free_port,
    get,
    manifests,
)

pytestmark = pytest.mark.e2e

M = manifests()
DEPLOYMENT = M["Deployment/pin-collector"]
POD = DEPLOYMENT["spec"]["template"]["spec"]
CONTAINER = POD["containers"][0]
CONFIG = M["ConfigMap/pin-collector"]["data"]
SECRET = M["Secret/pin-collector"]["stringData"]
FILLED = {"COLLECTOR_API_TOKENS": "ops:k8s-test-token-0123456789",
          "COLLECTOR_DEVICE_SECRET": "k8s-test-device-secret"}
PROBES = ("readinessProbe", "livenessProbe", "startupProbe")


def pod_env(**overrides: str) -> dict[str, str]:
    env = {**CONFIG, **SECRET, **FILLED}
    env.update({e["name"]: e["value"] for e in CONTAINER.get("env", [])})
    env.update(overrides)
    return env


def test_every_setting_is_one_the_collector_knows() -> None:
    settings = Settings.from_env(pod_env())
    assert settings.redis_url == SECRET["REDIS_URL"]
    assert settings.data_dir == CONTAINER["volumeMounts"][0]["mountPath"]
    assert settings.device_secret and settings.api_tokens
    assert settings.rate_limit_chains_per_hour > 0 and settings.trusted_proxies


def test_the_shipped_secret_stops_start_up_until_filled() -> None:
    with pytest.raises(ConfigError, match="COLLECTOR_DEVICE_SECRET: must not be empty"):
        Settings.from_env({**CONFIG, **SECRET})


def test_probes_name_real_routes_on_the_served_port(settings: Settings) -> None:
    app = create_app(settings)
    try:
        routes = {r.rule for r in app.url_map.iter_rules()}
    finally:
        app.extensions["collector"].ingestor.close()
    ports = {p["name"]: p["containerPort"] for p in CONTAINER["ports"]}
    assert ports == {"http": PORT}
    paths = {name: CONTAINER[name]["httpGet"]["path"] for name in PROBES}
    assert paths == {"readinessProbe": "/readyz", "livenessProbe": "/healthz",
                     "startupProbe": "/healthz"}
    for name in PROBES:
        assert CONTAINER[name]["httpGet"]["port"] == "http"
        assert CONTAINER[name]["httpGet"]["path"] in routes
    # /readyz pings Redis with the reader's timeout: the probe must wait longer than that
    assert CONTAINER["readinessProbe"]["timeoutSeconds"] >= READ_TIMEOUT_S
    annotations = DEPLOYMENT["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/path"] in routes
    assert int(annotations["prometheus.io/port"]) == PORT


def test_the_command_is_the_images_own() -> None:
    image = dockerfile()[-1]
    assert CONTAINER.get("command") is None  # the image's ENTRYPOINT: pin-collector
    assert CONTAINER["args"] == exec_form(image.last("CMD"))
    bind = CONTAINER["args"][CONTAINER["args"].index("--bind") + 1]
    assert bind == f"0.0.0.0:{PORT}"


def test_shutdown_leaves_time_to_flush_the_spool() -> None:
    """preStop first (out of the endpoints), then SIGTERM: gunicorn's graceful_timeout,
    then each worker's writer flush (Ingestor.close, 5 s), all inside the grace period."""
    pre = CONTAINER["lifecycle"]["preStop"]["exec"]["command"]
    assert pre[0] == "sleep"
    budget = int(pre[1]) + gunicorn_conf.graceful_timeout + 5
    assert POD["terminationGracePeriodSeconds"] >= budget + 10


def test_pod_security_and_resources() -> None:
    pod_sc, sc = POD["securityContext"], CONTAINER["securityContext"]
    assert pod_sc["runAsNonRoot"] is True and pod_sc["runAsUser"] != 0
    assert pod_sc["seccompProfile"]["type"] == "RuntimeDefault"
    assert sc == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                  "capabilities": {"drop": ["ALL"]}}
    assert POD["automountServiceAccountToken"] is False
    assert CONTAINER["resources"]["requests"]["cpu"]
    assert CONTAINER["resources"]["limits"]["memory"]
    # the read-only root leaves writable only what is mounted: the data dir, /tmp, metrics
    mounts = {m["mountPath"] for m in CONTAINER["volumeMounts"]}
    assert {CONFIG["COLLECTOR_DATA_DIR"], "/tmp", pod_env()["PROMETHEUS_MULTIPROC_DIR"]} <= mounts


def test_the_data_dir_is_never_ephemeral() -> None:
    volumes = {v["name"]: v for v in POD["volumes"]}
    mount = next(m for m in CONTAINER["volumeMounts"]
                 if m["mountPath"] == CONFIG["COLLECTOR_DATA_DIR"])
    data = volumes[mount["name"]]
    assert "emptyDir" not in data
    claim = M[f"PersistentVolumeClaim/{data['persistentVolumeClaim']['claimName']}"]
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]  # every pod replays the others'


def test_selectors_and_targets_agree() -> None:
    labels = DEPLOYMENT["spec"]["template"]["metadata"]["labels"]
    assert DEPLOYMENT["spec"]["selector"]["matchLabels"].items() <= labels.items()
    for kind in ("Service", "PodDisruptionBudget"):
        res = M[f"{kind}/pin-collector"]["spec"]["selector"]
        assert (res.get("matchLabels") or res).items() <= labels.items(), kind
    assert M["Service/pin-collector"]["spec"]["ports"][0]["targetPort"] == "http"
    hpa = M["HorizontalPodAutoscaler/pin-collector"]["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                     "name": "pin-collector"}
    assert 2 <= hpa["minReplicas"] < hpa["maxReplicas"]
    assert M["PodDisruptionBudget/pin-collector"]["spec"]["maxUnavailable"] == 1
    redis_host = SECRET["REDIS_URL"].split("//", 1)[1].split(":", 1)[0]
    assert M[f"Service/{redis_host}"]["spec"]["type"] == "ExternalName"


@pytest.fixture
def pod(tmp_path: Path) -> Iterator[tuple[Running, Path]]:
    """The container's command with the pod's environment, on a test Redis over TCP."""
    port = free_port()
    redis_port = free_port()
    server = RedisServer(tmp_path / "redis", appendonly=False,
                         extra={"port": str(redis_port), "bind": "127.0.0.1"}).start()
    data, metrics = tmp_path / "data", tmp_path / "metrics"
    data.mkdir()
    metrics.mkdir()  # the emptyDir
    url = SECRET["REDIS_URL"].replace("pin-collector-redis:6379", f"127.0.0.1:{redis_port}")
    env = pod_env(REDIS_URL=url, COLLECTOR_DATA_DIR=str(data),
                  PROMETHEUS_MULTIPROC_DIR=str(metrics))
    entry = exec_form(dockerfile()[-1].last("ENTRYPOINT"))
    argv = [str(VENV_BIN / entry[0]), *entry[1:], *CONTAINER["args"]]
    argv = [a.replace(f"0.0.0.0:{PORT}", f"127.0.0.1:{port}") for a in argv]
    running = Running(argv, clean_env(env), port, tmp_path / "log")
    try:
        yield running, data
    finally:
        running.stop()
        server.stop()


def test_the_pod_answers_its_probes_and_fails_readiness_without_a_writable_spool(
        pod: tuple[Running, Path]) -> None:
    running, data = pod
    for name in PROBES:
        status, body = get(running.port, CONTAINER[name]["httpGet"]["path"])
        assert status == 200, (name, body)
    assert get(running.port, "/metrics")[0] == 200
    assert not (data / "redis").exists()  # REDIS_URL set: nothing embedded
    assert not (data / "metrics").exists()  # metric files live in the pod's own emptyDir
    assert not (data / "api-token").exists() and not (data / "device-secret").exists()
    # the volume goes away under the pod (a lost mount, a replaced directory): not ready
    spool = data / "spool"
    spool.mkdir(exist_ok=True)
    os.rename(spool, data / "spool.moved")
    spool.write_text("not a directory")
    try:
        status, body = _readyz_settled(running.port, 503)
        assert status == 503 and b"spool_unwritable" in body
        status, _ = get(running.port, CONTAINER["livenessProbe"]["httpGet"]["path"])
        assert status == 200  # alive: restarting would not bring the volume back
    finally:
        spool.unlink()
        os.rename(data / "spool.moved", spool)
    assert _readyz_settled(running.port, 200)[0] == 200
    shutil.rmtree(data / "spool.moved", ignore_errors=True)


def _readyz_settled(port: int, want: int) -> tuple[int, Any]:
    """Ask every worker (the probe is cached per process for a few seconds)."""
    deadline = time.monotonic() + 15
    while True:
        results = [get(port, "/readyz") for _ in range(8)]
        if all(status == want and (want == 200 or b"spool_unwritable" in body)
               for status, body in results) or time.monotonic() > deadline:
            return results[-1]
        time.sleep(0.2)
