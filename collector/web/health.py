"""Liveness, readiness and metrics: unauthenticated so orchestrators and Prometheus can probe.

Bind them where operators want (SPEC section 5). The app-wide access log and request metrics
hooks are installed through this blueprint, which every app registers.
"""

from __future__ import annotations

import os
import secrets
import stat
import threading
import time

from flask import Blueprint, Response, jsonify

from collector.web import accesslog as logs
from collector.web import metrics
from collector.web.context import services

bp = Blueprint("health", __name__)
logs.install(bp)

SPOOL_FULL_RATIO = 0.9  # stop taking traffic a little before reports would be refused
PROBE_EVERY_S = 5.0


class SpoolProbe:
    """Can this process still create files in the spool directory?

    A 204 is only as good as the spool behind it: a read-only or vanished volume, a full disk
    or a directory left to another user must take the instance out of the load balancer
    before reports pile into Redis unprotected. ``stat`` and ``os.access`` are checked on
    every call (a replaced directory or a read-only remount shows at once); a real
    create-write-unlink every PROBE_EVERY_S (root passes ``access`` on any mode, and a full
    disk only shows on write). The probe file's
    name starts with a dot and ends with ``.tmp``: never a segment, swept if left behind.
    """

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self._checked_at = -1e9
        self._ok = False
        self._lock = threading.Lock()

    def _write(self) -> bool:
        path = os.path.join(self.directory, f".readyz-{os.getpid()}-{secrets.token_hex(4)}.tmp")
        try:
            os.makedirs(self.directory, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, b"ok")
            finally:
                os.close(fd)
                os.unlink(path)
        except OSError:
            return False
        return True

    def writable(self, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        try:
            is_dir = stat.S_ISDIR(os.stat(self.directory).st_mode)
        except FileNotFoundError:  # created by the first segment (or the probe below)
            pass
        except OSError:
            return False
        else:
            if not is_dir or not os.access(self.directory, os.W_OK | os.X_OK):
                return False
        with self._lock:
            if now - self._checked_at >= PROBE_EVERY_S or not self._ok:
                self._ok, self._checked_at = self._write(), now
            return self._ok


_probes: dict[str, SpoolProbe] = {}


def spool_probe(directory: str) -> SpoolProbe:
    probe = _probes.get(directory)
    if probe is None:
        probe = _probes.setdefault(directory, SpoolProbe(directory))
    return probe


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> Response:
    """Ready when Redis answers, this worker is not in spool mode and the spool has room
    and can be written."""
    svc = services()
    reasons = []
    if svc.ingestor.degraded:
        reasons.append("redis_degraded")
    try:
        svc.reads.client.ping()
    except Exception:  # any client error means not reachable
        reasons.append("redis_unreachable")
    spool: dict[str, object] = {"max_bytes": svc.settings.spool_max_bytes}
    if not spool_probe(svc.ingestor.spool.directory).writable():
        reasons.append("spool_unwritable")
    try:
        depth = svc.ingestor.spool.depth()
    except Exception:  # disk errors: the spool cannot back a 204 any more
        reasons.append("spool_unavailable")
    else:
        spool.update(bytes=depth.bytes, segments=depth.segments,
                     oldest_age_seconds=depth.oldest_age_seconds)
        if depth.bytes >= SPOOL_FULL_RATIO * svc.settings.spool_max_bytes:
            reasons.append("spool_full")
    resp = jsonify({"status": "degraded" if reasons else "ready", "reasons": reasons,
                    "spool": spool})
    resp.status_code = 503 if reasons else 200
    return resp


@bp.get("/metrics")
def prometheus() -> Response:
    return Response(metrics.render(services().ingestor), mimetype=None,
                    content_type=metrics.CONTENT_TYPE)
