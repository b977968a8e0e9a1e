"""RFC 9457 problem details: the one error envelope, small and never echoing input.

Rejections of reports are public and attacker-driven, so every body is built from fixed
strings: a fixed ``type`` per reason, the HTTP title, a fixed ``detail``, and for 422 the
schema's own field names with the schema's own messages.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from flask import Flask, Response
from werkzeug.exceptions import HTTPException

PROBLEM_JSON = "application/problem+json"
_TYPE = "https://pin-collector.dev/problems/"
MAX_BODY = 1024


class Problem(Exception):
    """A response with a status, a fixed reason slug and a fixed detail."""

    def __init__(
        self,
        status: int,
        reason: str,
        detail: str,
        *,
        errors: Mapping[str, list[str]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.detail = detail
        self.errors = dict(errors or {})
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "type": _TYPE + self.reason,
            "title": HTTPStatus(self.status).phrase,
            "status": self.status,
            "detail": self.detail,
        }
        if self.errors:
            doc["errors"] = self.errors
        return doc

    def response(self) -> Response:
        doc = self.body()
        text = json.dumps(doc, separators=(",", ":"))
        while len(text) > MAX_BODY and doc.get("errors"):
            # Drop the last field's messages until the body fits the 1 KiB promise.
            errors = dict(doc["errors"])
            errors.popitem()
            doc["errors"] = errors
            text = json.dumps(doc, separators=(",", ":"))
        resp = Response(text, status=self.status, mimetype=PROBLEM_JSON)
        for name, value in self.headers.items():
            resp.headers[name] = value
        return resp


def unauthorized() -> Problem:
    return Problem(401, "unauthorized", "A valid bearer token is required.",
                   headers={"WWW-Authenticate": 'Bearer realm="pin-collector"'})


def not_found(what: str = "resource") -> Problem:
    return Problem(404, "not-found", f"No such {what}.")


def _from_http(exc: HTTPException) -> Problem:
    code = exc.code or 500
    headers: dict[str, str] = {}
    if code == 405:
        valid = getattr(exc, "valid_methods", None) or []
        headers["Allow"] = ", ".join(sorted(valid))
    reason = HTTPStatus(code).phrase.lower().replace(" ", "-").replace("'", "")
    return Problem(code, reason, HTTPStatus(code).description, headers=headers)


def register(app: Flask) -> None:
    """Every error leaves as problem+json; an unexpected exception is a fixed 500 body."""

    @app.errorhandler(Problem)
    def _problem(exc: Problem) -> Response:
        return exc.response()

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        return _from_http(exc).response()

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        app.logger.exception("unexpected error")
        return Problem(500, "internal-error", "The server could not handle the request.").response()
