"""POST /v1/reports, answered in front of Flask.

In a report storm this route is nearly every request, and Flask's own work per request (app
and request contexts, URL matching, the session, CSRF and header hooks the dashboard adds for
its pages, the access-log hooks) cost about as much CPU as parsing and validating the report.
``ReportRoute`` is a WSGI middleware that takes this one route (exactly this path, POST) and
answers it with the same steps, problems, metrics and access-log line as the Flask view
would; every other request goes on to Flask untouched (``GET /v1/reports`` still gets
Flask's 405). ``take`` is the route itself, shared with the Flask view.
"""

from __future__ import annotations

import logging
import socket
import struct
import time
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.wsgi import get_content_length, get_input_stream

from collector import wiring
from collector.durable.ingest import Unavailable
from collector.intake import formats, wire
from collector.intake.rejection import Rejection
from collector.web import accesslog, metrics
from collector.web.problems import PROBLEM_JSON
from collector.web.ratelimit import Limits

PATH = "/v1/reports"
ENDPOINT = "api.post_report"
BODY_TIMEOUT_S = 5
_BODY_TIMEOUT = struct.pack("ll", BODY_TIMEOUT_S, 0)  # struct timeval
log = logging.getLogger("collector")  # Flask's app.logger for an app named "collector"

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def take(svc: wiring.Services, limiter: Limits | None, environ: dict[str, Any]) -> str:
    """Validate, classify and store one report: where it became durable ("spool" or
    "redis"), or a ``Rejection`` naming the SPEC section 3 status."""
    addr = environ.get("REMOTE_ADDR")
    if limiter is not None:
        wait = limiter.check(addr)
        if wait:
            raise Rejection(429, "rate-limited", "Too many reports right now.",
                            headers={"Retry-After": limiter.retry_after(wait)})
    cap = svc.settings.max_body_bytes
    wire.check_headers(environ.get("CONTENT_TYPE"), environ.get("HTTP_CONTENT_ENCODING"),
                       get_content_length(environ), cap)
    sock = environ.get("gunicorn.socket")
    if sock is not None:  # a client that stalls mid-body must not hold a thread for ever
        # A kernel receive timeout (a blocking recv then fails with EAGAIN, see
        # wire.read_capped): one syscall, where settimeout() costs two and a poll() per recv.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, _BODY_TIMEOUT)
    body = wire.read_capped(get_input_stream(environ, max_content_length=None), cap)
    doc = wire.parse_json(body)
    report = formats.build(doc, received_ms=int(time.time() * 1000), secret=svc.device_secret,
                           client_addr=addr, allowed_hosts=svc.settings.allowed_hosts)
    if limiter is not None:
        wait = limiter.check_chain(addr, report.chain.fingerprint)
        if wait:
            raise Rejection(429, "too-many-chains", "Too many distinct chains from this source.",
                            headers={"Retry-After": limiter.retry_after(wait)})
    report = svc.classify(report)
    try:
        return svc.ingestor.submit(report)
    except Unavailable:
        raise Rejection(503, "unavailable", "Reports cannot be stored right now.",
                        headers={"Retry-After": "30"}) from None


def _status(code: int) -> str:
    return f"{code} {HTTP_STATUS_CODES.get(code, 'UNKNOWN').upper()}"


class ReportRoute:
    """The middleware: ``take`` for POST /v1/reports, ``inner`` (Flask) for the rest."""

    def __init__(self, inner: WSGIApp, svc: wiring.Services, limiter: Limits | None) -> None:
        self.inner, self.svc, self.limiter = inner, svc, limiter

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) \
            -> Iterable[bytes]:
        if environ.get("PATH_INFO") != PATH or environ.get("REQUEST_METHOD") != "POST":
            return self.inner(environ, start_response)
        started = time.perf_counter()
        reason: str | None = None
        try:
            metrics.accepted(take(self.svc, self.limiter, environ))
            status, headers, body = 204, [], b""
        except Exception as exc:
            if not isinstance(exc, Rejection):
                log.exception("unexpected error")
                exc = Rejection(500, "internal-error", "The server could not handle the request.")
            status, body = exc.status, exc.encoded().encode()
            reason = metrics.reason_label(exc.reason)
            headers = [("Content-Type", PROBLEM_JSON), ("Content-Length", str(len(body))),
                       *exc.headers.items()]
        accesslog.record("POST", PATH, ENDPOINT, status, time.perf_counter() - started, reason)
        start_response(_status(status), headers)
        return [body]
