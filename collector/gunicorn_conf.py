"""gunicorn settings used by `pin-collector serve` (deploy/gunicorn.conf.py re-exports them).

The Redis time budget (0.5 s socket timeout, no retries) stays far below ``timeout``, so a
hung Redis sends reports to the spool instead of getting workers killed mid-request.
"""

from __future__ import annotations

from typing import Any

worker_class = "gthread"
threads = 8
timeout = 30
graceful_timeout = 20
keepalive = 5
backlog = 2048
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190
accesslog = None
errorlog = "-"
loglevel = "warning"
forwarded_allow_ips = "127.0.0.1,::1"
# Each worker listens on its own SO_REUSEPORT socket, so the kernel spreads connections
# evenly. With one shared socket, whichever worker wakes first takes a burst of new
# keep-alive connections, and a 2-worker server then runs on one core for their lifetime.
# `serve` checks the address is free first (a shared port would otherwise go unnoticed).
reuse_port = True


def worker_exit(server: Any, worker: Any) -> None:
    """Close this worker's spool segment cleanly on SIGTERM or a graceful reload."""
    app = getattr(worker, "wsgi", None)
    svc = getattr(app, "extensions", {}).get("collector") if app is not None else None
    if svc is not None:
        svc.ingestor.close()

