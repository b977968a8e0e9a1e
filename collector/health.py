"""Liveness and readiness, unauthenticated so orchestrators can probe them."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from collector.services import services

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> Response:
    svc = services()
    reasons = []
    if svc.ingestor.degraded:
        reasons.append("redis_unavailable")
    try:
        svc.queries.client.ping()
    except Exception:  # any client error means not reachable
        if "redis_unavailable" not in reasons:
            reasons.append("redis_unavailable")
    doc = {"status": "ready" if not reasons else "degraded", "reasons": reasons}
    resp = jsonify(doc)
    # Reports are still accepted durably while the spool has room.
    resp.status_code = 200 if not reasons else 503
    return resp
