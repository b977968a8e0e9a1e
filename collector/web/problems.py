"""RFC 9457 problem details: every error leaves as a small problem+json that echoes nothing.

The refusal itself is ``intake.rejection.Rejection`` (Flask-free, raised by every step);
this module is where it becomes a response, and where Werkzeug's own errors join it.
"""

from __future__ import annotations

from http import HTTPStatus

from flask import Flask, Response
from werkzeug.exceptions import HTTPException

from collector.intake.rejection import Rejection, status_reason

PROBLEM_JSON = "application/problem+json"


def response(problem: Rejection) -> Response:
    resp = Response(problem.encoded(), status=problem.status, mimetype=PROBLEM_JSON)
    for name, value in problem.headers.items():
        resp.headers[name] = value
    return resp


def unauthorized() -> Rejection:
    return Rejection(401, "unauthorized", "A valid bearer token is required.",
                     headers={"WWW-Authenticate": 'Bearer realm="pin-collector"'})


def not_found(what: str = "resource") -> Rejection:
    return Rejection(404, "not-found", f"No such {what}.")


def from_http(exc: HTTPException) -> Rejection:
    """Werkzeug's own error (unknown route, wrong method...) as a problem."""
    code = exc.code or 500
    headers: dict[str, str] = {}
    if code == 405:
        valid = getattr(exc, "valid_methods", None) or []
        headers["Allow"] = ", ".join(sorted(valid))
    return Rejection(code, status_reason(code), HTTPStatus(code).description, headers=headers)


def register(app: Flask) -> None:
    """Every error leaves as problem+json; an unexpected exception is a fixed 500 body."""

    @app.errorhandler(Rejection)
    def _problem(exc: Rejection) -> Response:
        return response(exc)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        return response(from_http(exc))

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        app.logger.exception("unexpected error")
        return response(Rejection(500, "internal-error",
                                  "The server could not handle the request."))
