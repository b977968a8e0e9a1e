"""deploy/Dockerfile: its shape, and its ENTRYPOINT + CMD and HEALTHCHECK run for real.

The image is not built here (no Docker daemon is assumed): the final stage's ENV, entry point
and health check are taken from the file and run against this checkout's install, with only
the install prefix, the data dir and the port swapped.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy.files import (
    IMAGE_PREFIX,
    PORT,
    VENV_BIN,
    Running,
    Stage,
    clean_env,
    dockerfile,
    env_pairs,
    exec_form,
    free_port,
    get,
    healthcheck,
    swap,
)
from tests.helpers import example

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def final() -> Stage:
    stages = dockerfile()
    assert len(stages) == 2 and stages[0].name == "build"  # multi-stage: no build tools kept
    assert stages[1].base == stages[0].base == "${PYTHON_IMAGE}"
    return stages[1]


def test_final_stage_is_slim_non_root_with_the_data_dir_as_a_volume(final: Stage) -> None:
    text = (Path(__file__).resolve().parents[2] / "deploy/Dockerfile").read_text()
    assert "ARG PYTHON_IMAGE=python:3.11-slim-" in text
    assert final.all("COPY") == ["--from=build /opt/pin-collector /opt/pin-collector"]
    user = final.last("USER")
    assert user.split(":")[0] not in ("0", "root") and user.split(":")[0].isdigit()
    env = env_pairs(final.all("ENV"))
    assert exec_form(final.last("VOLUME")) == [env["COLLECTOR_DATA_DIR"]]
    assert final.last("EXPOSE") == str(PORT)
    assert final.last("STOPSIGNAL") == "SIGTERM"


@pytest.fixture(scope="module")
def container(final: Stage, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """ENTRYPOINT + CMD with the image's ENV; /opt/pin-collector is this venv, the volume a
    temp dir, and 0.0.0.0:8000 a free loopback port."""
    root = tmp_path_factory.mktemp("image")
    env = env_pairs(final.all("ENV"))
    volume = env["COLLECTOR_DATA_DIR"]
    argv = exec_form(final.last("ENTRYPOINT")) + exec_form(final.last("CMD"))
    assert argv[:2] == ["pin-collector", "serve"]
    port = free_port()
    argv = swap(argv, f"0.0.0.0:{PORT}", f"127.0.0.1:{port}", times=1)
    env = {k: v.replace(f"{IMAGE_PREFIX}/bin", str(VENV_BIN)).replace(volume, str(root / "vol"))
           for k, v in env.items()}
    assert env["PATH"].startswith(f"{VENV_BIN}:")
    (root / "vol").mkdir()
    argv[0] = str(VENV_BIN / argv[0])  # as the image's PATH resolves it
    running = Running(argv, clean_env(env), port, root / "log", cwd=root / "vol")
    yield running
    running.stop()


def test_cmd_serves_reports_with_an_embedded_redis_in_the_volume(container: Running,
                                                                 tmp_path: Path) -> None:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", container.port, timeout=10)
    conn.request("POST", "/v1/reports", body=example("trustkit-ios.json"),
                 headers={"Content-Type": "application/json"})
    assert conn.getresponse().status == 204
    conn.close()
    volume = Path(container.log).parent / "vol"
    assert (volume / "redis" / "appendonly.aof").exists() or \
        any((volume / "redis").glob("appendonly*"))
    assert (volume / "spool").is_dir() and (volume / "api-token").exists()
    assert get(container.port, "/readyz")[0] == 200


def test_healthcheck_passes_while_up_and_fails_when_down(final: Stage, container: Running) \
        -> None:
    opts, argv = healthcheck(final)
    assert float(opts["timeout"].rstrip("s")) <= 5
    assert argv[0] == "python"
    argv = swap(argv, f"127.0.0.1:{PORT}/healthz", f"127.0.0.1:{container.port}/healthz",
                times=1)
    argv[0] = str(VENV_BIN / "python")
    env = {"PATH": f"{VENV_BIN}:/usr/bin:/bin"}
    assert subprocess.run(argv, env=env, timeout=10).returncode == 0
    dead = swap(argv, f":{container.port}/", f":{free_port()}/")
    proc = subprocess.run(dead, env=env, timeout=10, capture_output=True)
    assert proc.returncode != 0


def test_docker_stop_sigterm_shuts_down_cleanly(final: Stage,
                                                tmp_path_factory: pytest.TempPathFactory) \
        -> None:
    """SIGTERM to PID 1 (the entry point) stops gunicorn, its workers and the embedded Redis
    within the grace period the compose file gives it."""
    import yaml

    root = tmp_path_factory.mktemp("stop")
    env = env_pairs(final.all("ENV"))
    env["COLLECTOR_DATA_DIR"] = str(root / "vol")
    env["PATH"] = env["PATH"].replace(f"{IMAGE_PREFIX}/bin", str(VENV_BIN))
    port = free_port()
    argv = exec_form(final.last("ENTRYPOINT")) + exec_form(final.last("CMD"))
    argv = swap(argv, f"0.0.0.0:{PORT}", f"127.0.0.1:{port}")
    argv[0] = str(VENV_BIN / argv[0])
    running = Running(argv, clean_env(env), port, root / "log")
    output = running.stop()
    compose = yaml.safe_load((Path(__file__).resolve().parents[2] /
                              "deploy/compose.yaml").read_text())
    grace = int(compose["services"]["collector"]["stop_grace_period"].rstrip("s"))
    assert running.stopped_in is not None and running.stopped_in < grace, output
    assert running.proc.returncode == 0, output
    assert not running.left_behind, "a process outlived the entry point"
    assert os.path.exists(root / "vol" / "device-secret")
