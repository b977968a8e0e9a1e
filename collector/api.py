"""HTTP API: report ingestion (public) and the analyst reads (bearer token)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from flask import Blueprint, Response, jsonify, request

from collector import formats, intake
from collector.hostnames import HostnameError, normalise
from collector.ingest import Unavailable
from collector.problems import Problem, not_found
from collector.queries import Window
from collector.services import services

bp = Blueprint("api", __name__, url_prefix="/v1")


@bp.route("/reports", methods=["POST"], provide_automatic_options=False)
def post_report() -> Response:
    svc = services()
    cap = svc.settings.max_body_bytes
    intake.check_headers(request.headers.get("Content-Type"),
                         request.headers.get("Content-Encoding"), request.content_length, cap)
    body = intake.read_capped(request.stream, cap)
    doc = intake.parse_json(body)
    report = formats.build(doc, received_ms=int(time.time() * 1000), secret=svc.device_secret,
                           client_addr=request.remote_addr,
                           allowed_hosts=svc.settings.allowed_hosts)
    report = svc.classify(report)
    try:
        svc.ingestor.submit(report)
    except Unavailable:
        raise Problem(503, "unavailable", "Reports cannot be stored right now.",
                      headers={"Retry-After": "30"}) from None
    return Response(status=204)


@bp.before_request
def _analyst_auth() -> None:
    if request.endpoint != "api.post_report":
        services().tokens.require(request.headers.get("Authorization"))


def _time_arg(name: str) -> datetime | None:
    raw = request.args.get(name)
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("z", "Z"))
    except ValueError:
        raise Problem(400, "bad-query", f"'{name}' must be an RFC 3339 time.") from None
    if value.tzinfo is None:
        raise Problem(400, "bad-query", f"'{name}' must include a time zone.")
    return value.astimezone(UTC)


def window() -> Window:
    since, until = _time_arg("since"), _time_arg("until")
    if since and until and since > until:
        raise Problem(400, "bad-query", "'since' must not be after 'until'.")
    return Window(since, until)


def hostname_arg(raw: str) -> str:
    try:
        return normalise(raw)
    except HostnameError:
        raise not_found("host") from None


@bp.get("/summary")
def summary() -> Response:
    return jsonify(services().queries.summary(window()))


@bp.get("/hosts/<path:hostname>")
def host(hostname: str) -> Response:
    doc = services().queries.host(hostname_arg(hostname), window())
    if doc is None:
        raise not_found("host")
    return jsonify(doc)
