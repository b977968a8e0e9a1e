"""Reading the files under deploy/ as their tools would, and running what they say to run.

Docker and systemd may be absent where the suite runs, so their files are not handed to
them: the Dockerfile's and the unit's instructions are parsed here, their commands run with
only the machine-specific parts swapped (install prefix, data dir, port), and each swap is
checked to have happened exactly where expected, so a drifting file fails the test instead
of being silently tested in some other shape.
"""

from __future__ import annotations

import http.client
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.helpers import group_alive

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
VENV_BIN = Path(sys.executable).parent
IMAGE_PREFIX = "/opt/pin-collector"
PORT = 8000  # the port every shipped file listens on


# --- Dockerfile -------------------------------------------------------------------------------

@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, op: str) -> list[str]:
        return [arg for o, arg in self.instructions if o == op]

    def last(self, op: str) -> str:
        found = self.all(op)
        assert found, f"no {op} in the stage"
        return found[-1]


def dockerfile(path: Path = DEPLOY / "Dockerfile") -> list[Stage]:
    """The stages of a Dockerfile: (instruction, arguments) with continuations joined."""
    stages: list[Stage] = []
    logical = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not logical and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):  # a comment inside a continued instruction
            continue
        if line.endswith("\\"):
            logical += line[:-1] + " "
            continue
        logical += line
        op, _, arg = logical.partition(" ")
        logical = ""
        op = op.upper()
        if op == "FROM":
            words = arg.split()
            name = words[2] if len(words) > 2 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], name))
        elif stages:
            stages[-1].instructions.append((op, arg.strip()))
    return stages


def exec_form(arg: str) -> list[str]:
    """A JSON (exec-form) argument list; shell form is refused: signals must reach the
    process itself, not a shell."""
    value = json.loads(arg)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), arg
    return value


def env_pairs(args: list[str]) -> dict[str, str]:
    """ENV instructions (``K=V K2=V2``) as a dict; ``$PATH`` style references to earlier
    values and to the process's own environment are expanded."""
    out: dict[str, str] = {}
    for arg in args:
        for word in shlex.split(arg):
            key, sep, value = word.partition("=")
            assert sep, f"ENV {word!r} must use the K=V form"
            for name, known in sorted({**os.environ, **out}.items(), key=lambda kv: -len(kv[0])):
                value = value.replace("$" + name, known).replace("${" + name + "}", known)
            out[key] = value
    return out


def healthcheck(stage: Stage) -> tuple[dict[str, str], list[str]]:
    """HEALTHCHECK options and its exec-form command."""
    arg = stage.last("HEALTHCHECK")
    opts: dict[str, str] = {}
    words = arg.split(" ")
    while words and words[0].startswith("--"):
        key, _, value = words.pop(0)[2:].partition("=")
        opts[key] = value
    rest = " ".join(words).strip()
    assert rest.startswith("CMD "), "HEALTHCHECK must run a command"
    return opts, exec_form(rest[4:])


def swap(args: list[str], old: str, new: str, *, times: int | None = None) -> list[str]:
    """Replace ``old`` in every argument; check it occurred ``times`` times (any if None)."""
    count = sum(a.count(old) for a in args)
    assert count and (times is None or count == times), (old, count, args)
    return [a.replace(old, new) for a in args]


# --- systemd ------------------------------------------------------------------------------

def unit(path: Path = DEPLOY / "systemd" / "pin-collector.service") \
        -> dict[str, dict[str, list[str]]]:
    """section -> key -> every value given (Environment= and friends repeat)."""
    out: dict[str, dict[str, list[str]]] = {}
    section: dict[str, list[str]] | None = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = out.setdefault(line[1:-1], {})
            continue
        assert section is not None and "=" in line, line
        key, _, value = line.partition("=")
        section.setdefault(key.strip(), []).append(value.strip())
    return out


# --- Kubernetes and compose ----------------------------------------------------------------

def yaml_docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def manifests(directory: Path = DEPLOY / "kubernetes" / "base") -> dict[str, dict[str, Any]]:
    """kind/name -> the resource, for every resource the kustomization lists."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    out = {}
    for name in kustomization["resources"]:
        for doc in yaml_docs(directory / name):
            out[f"{doc['kind']}/{doc['metadata']['name']}"] = doc
    return out


# --- running a collector -------------------------------------------------------------------

def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def get(port: int, path: str, timeout: float = 5) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    """The process environment without any COLLECTOR_*/REDIS_URL of the developer's."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("COLLECTOR_") and k not in ("REDIS_URL", "PROMETHEUS_MULTIPROC_DIR")}
    env.update(extra)
    return env


class Running:
    """A command started as its deploy file says, in its own process group, logged to a file."""

    def __init__(self, argv: list[str], env: dict[str, str], port: int, log: Path,
                 cwd: Path | None = None) -> None:
        self.port = port
        self.log = log
        self._log = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 40
        while True:
            try:
                if get(port, "/healthz", timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                output = self.stop()
                raise RuntimeError(f"{argv} did not start:\n{output[-3000:]}")
            time.sleep(0.1)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 45) -> str:
        """Signal the main process only (as `docker stop` and KillMode=mixed do); then make
        sure nothing of the group is left."""
        self.stopped_in: float | None = None
        if self.proc.poll() is None:
            started = time.monotonic()
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
                self.stopped_in = time.monotonic() - started
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        deadline = time.monotonic() + 10
        while group_alive(self.proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        self.left_behind = group_alive(self.proc.pid)  # what KillMode=mixed would SIGKILL
        if self.left_behind:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self._log.close()
        return self.log.read_text("utf-8", "replace")
