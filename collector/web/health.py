"""Liveness, readiness and metrics: unauthenticated so orchestrators and Prometheus can probe.

Bind them where operators want (SPEC section 5). The app-wide access log and request metrics
hooks are installed through this blueprint, which every app registers.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from collector.web import accesslog as logs
from collector.web import metrics
from collector.web.context import services

bp = Blueprint("health", __name__)
logs.install(bp)

SPOOL_FULL_RATIO = 0.9  # stop taking traffic a little before reports would be refused


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> Response:
    """Ready when Redis answers, this worker is not in spool mode and the spool has room."""
    svc = services()
    reasons = []
    if svc.ingestor.degraded:
        reasons.append("redis_degraded")
    try:
        svc.reads.client.ping()
    except Exception:  # any client error means not reachable
        reasons.append("redis_unreachable")
    spool: dict[str, object] = {"max_bytes": svc.settings.spool_max_bytes}
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
