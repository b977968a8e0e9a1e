"""deploy/systemd/pin-collector.service: hardened, and its ExecStart run as systemd would.

systemd-analyze checks the unit (tests/deploy/test_lint.py). Here the ExecStart runs with
the unit's Environment= and working directory, %S (the state directory root) a temp dir and
the install prefix this venv; the stop follows KillMode=mixed: SIGTERM to the main process
only, and whatever is still running after TimeoutStopSec would be SIGKILLed.
"""

from __future__ import annotations

import http.client
import shlex
from pathlib import Path

import pytest

from tests.deploy.files import IMAGE_PREFIX, PORT, VENV_BIN, Running, clean_env, free_port, unit
from tests.helpers import example

pytestmark = pytest.mark.e2e

UNIT = unit()
SERVICE = UNIT["Service"]


def one(key: str) -> str:
    values = SERVICE[key]
    assert len(values) == 1, (key, values)
    return values[0]


def test_the_unit_is_hardened() -> None:
    assert one("DynamicUser") == "yes" and one("StateDirectory") == "pin-collector"
    assert one("StateDirectoryMode") == "0700" and one("UMask") == "0077"
    for key, value in {"NoNewPrivileges": "yes", "ProtectSystem": "strict",
                       "ProtectHome": "yes", "PrivateTmp": "yes", "PrivateDevices": "yes",
                       "RestrictSUIDSGID": "yes", "ProtectKernelTunables": "yes",
                       "ProtectControlGroups": "yes", "CapabilityBoundingSet": "",
                       "SystemCallArchitectures": "native", "LockPersonality": "yes"}.items():
        assert one(key) == value, key
    assert "@system-service" in SERVICE["SystemCallFilter"]
    assert set(one("RestrictAddressFamilies").split()) == {"AF_UNIX", "AF_INET", "AF_INET6"}
    # the data dir is the state directory: the one path ProtectSystem=strict leaves writable
    env = dict(e.split("=", 1) for e in SERVICE["Environment"])
    assert env["COLLECTOR_DATA_DIR"] == "%S/pin-collector" == one("WorkingDirectory")
    assert one("KillMode") == "mixed" and one("Restart") == "on-failure"
    assert UNIT["Install"]["WantedBy"] == ["multi-user.target"]


def test_exec_start_serves_and_stops_within_timeout_stop_sec(tmp_path: Path) -> None:
    state = tmp_path / "state"
    (state / "pin-collector").mkdir(parents=True)  # what StateDirectory= creates
    env = {}
    for entry in SERVICE["Environment"]:
        key, _, value = entry.partition("=")
        env[key] = value.replace("%S", str(state))
    optional = one("EnvironmentFile")
    assert optional.startswith("-"), "the environment file must be optional"
    argv = shlex.split(one("ExecStart"))
    assert argv[0] == f"{IMAGE_PREFIX}/bin/pin-collector" and argv[1] == "serve"
    argv[0] = str(VENV_BIN / "pin-collector")
    port = free_port()
    assert argv.count(f"127.0.0.1:{PORT}") == 1  # loopback only: nginx is in front
    argv = [a.replace(f"127.0.0.1:{PORT}", f"127.0.0.1:{port}") for a in argv]
    cwd = Path(one("WorkingDirectory").replace("%S", str(state)))
    running = Running(argv, clean_env(env), port, tmp_path / "log", cwd=cwd)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        # through a proxy on 127.0.0.1, as COLLECTOR_TRUSTED_PROXIES says
        conn.request("POST", "/v1/reports", body=example("trustkit-ios.json"),
                     headers={"Content-Type": "application/json",
                              "X-Forwarded-For": "198.51.100.7"})
        assert conn.getresponse().status == 204
        conn.close()
    finally:
        output = running.stop(timeout=float(one("TimeoutStopSec")))
    data = state / "pin-collector"
    assert running.stopped_in is not None, output  # no SIGKILL was needed
    assert running.proc.returncode == 0, output
    assert not running.left_behind, "the embedded Redis outlived the main process"
    assert (data / "redis").is_dir() and (data / "spool").is_dir()
    assert (data / "api-token").stat().st_mode & 0o777 == 0o600
