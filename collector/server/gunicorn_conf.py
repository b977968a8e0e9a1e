"""gunicorn settings used by `pin-collector serve` (deploy/gunicorn.conf.py re-exports them).

The Redis time budget (0.5 s socket timeout, no retries) stays far below ``timeout``, so a
hung Redis sends reports to the spool instead of getting workers killed mid-request.
"""

from __future__ import annotations

import gc
from typing import Any

worker_class = "collector.server.worker.ThreadWorker"  # gthread, spreading connections evenly
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
# Peers allowed to set X-Forwarded-Proto (the scheme). It does not make X-Forwarded-For the
# client address: gunicorn never does that; COLLECTOR_TRUSTED_PROXIES (web/proxies.py) does.
forwarded_allow_ips = "127.0.0.1,::1"


def post_worker_init(worker: Any) -> None:
    """Move what start-up built (modules, the classifier's roots and products, the app) out
    of the collector's reach: a full collection then walks only what requests made, instead
    of stalling one request in a few hundred by tens of milliseconds."""
    gc.collect()
    gc.freeze()


def worker_exit(server: Any, worker: Any) -> None:
    """Close this worker's spool segment cleanly on SIGTERM or a graceful reload, and stop
    its alert deliverer (what it has not sent stays pending for another worker)."""
    app = getattr(worker, "wsgi", None)
    svc = getattr(app, "extensions", {}).get("collector") if app is not None else None
    if svc is not None:
        if getattr(svc, "deliverer", None) is not None:
            svc.deliverer.close(timeout=2.0)
        svc.ingestor.close()


def child_exit(server: Any, worker: Any) -> None:
    """In the master: a dead worker (even a killed one) no longer counts for balancing."""
    from collector.server.worker import release

    release(worker)
