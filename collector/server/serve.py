"""`pin-collector serve`: gunicorn, and the embedded redis-server it owns when REDIS_URL is unset.

The embedded Redis (collector.server.embedded) listens only on a unix socket in the data
dir and dies with the gunicorn master: stopped from gunicorn's on_exit hook, and asked by
the kernel (PR_SET_PDEATHSIG) should the master be killed outright.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
from pathlib import Path
from typing import Any

from collector.server.embedded import RedisServer


def run(bind: str, workers: int) -> None:
    """Start gunicorn in this process; it becomes the master and owns the embedded Redis."""
    from gunicorn.app.base import BaseApplication

    from collector import datadir
    from collector.config import Settings
    from collector.server import gunicorn_conf

    settings = Settings.from_env()
    metrics_dir = Path(settings.data_dir) / "metrics"
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:  # read by prometheus_client at import
        shutil.rmtree(metrics_dir, ignore_errors=True)  # per-pid files of the last run
        metrics_dir.mkdir(parents=True, exist_ok=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    embedded: RedisServer | None = None
    watching = threading.Event()
    if not settings.redis_url:
        embedded = RedisServer(Path(settings.data_dir) / "redis").start()
        watching = embedded.supervise()
        os.environ["REDIS_URL"] = embedded.url
        print(f"pin-collector: embedded redis-server at {embedded.url}", file=sys.stderr)
    _, created = datadir.api_tokens(settings.data_dir, settings.api_tokens)
    if created:
        print(f"pin-collector: generated analyst API token (stored in {settings.data_dir}"
              f"/api-token, mode 0600; shown only now):\n{created}", file=sys.stderr)

    class Collector(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for key in dir(gunicorn_conf):
                if key in self.cfg.settings:
                    self.cfg.set(key, getattr(gunicorn_conf, key))
            self.cfg.set("bind", [bind])
            self.cfg.set("workers", workers)
            if embedded is not None:
                previous = self.cfg.on_exit

                def on_exit(server: Any) -> None:
                    previous(server)
                    watching.set()
                    embedded.stop()

                self.cfg.set("on_exit", on_exit)

        def load(self) -> Any:
            from collector import create_app

            return create_app()

    try:
        Collector().run()
    finally:
        watching.set()
        if embedded is not None:
            embedded.stop()
