"""Error pages in the dashboard's style: 400 for a bad query or form (or a failed CSRF check),
404 for an unknown host, chain or path, 503 while Redis cannot be read, 500 otherwise.

Unknown paths outside the JSON API get the HTML 404 page too; under ``/v1`` and on the
probes Werkzeug's errors stay problem+json, exactly as ``web.problems`` makes them. No page
echoes the request (an unknown path, a bad value): only the parameter's name and a fixed
problem.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, g, request
from redis import RedisError
from werkzeug.exceptions import HTTPException

from collector.intake.bundle import MAX_BUNDLE_BYTES
from collector.intake.rejection import Rejection
from collector.web import problems
from collector.web.dashboard.blueprint import bp, is_api_path
from collector.web.dashboard.params import BadQuery
from collector.web.dashboard.render import page

log = logging.getLogger(__name__)

TITLES = {400: "Bad request", 401: "Sign-in required", 403: "Forbidden", 404: "Not found",
          405: "Method not allowed", 413: "Too large", 429: "Too many requests",
          500: "Something went wrong", 503: "Storage unavailable"}


class NotFoundPage(Exception):
    """No such host, chain or page: the 404 page names which kind."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


def error_page(status: int, message: str, param: str | None = None,
               headers: dict[str, str] | None = None) -> Response:
    resp = page("error.html", status, status_code=status,
                title=TITLES.get(status, "Error"), message=message, param=param)
    for name, value in (headers or {}).items():
        resp.headers[name] = value
    return resp  # the security headers: app.after_request (security.apply_headers)


@bp.errorhandler(BadQuery)  # and forms.BadForm, a bad field of a form
def _bad_query(exc: BadQuery) -> Response:
    return error_page(400, exc.problem, param=exc.param)


@bp.errorhandler(NotFoundPage)
def _not_found(exc: NotFoundPage) -> Response:
    return error_page(404, f"No such {exc.what}.")


@bp.errorhandler(RedisError)
def _redis_down(exc: RedisError) -> Response:
    return error_page(503, "The aggregates cannot be read right now. Try again in a moment.",
                      headers={"Retry-After": "5"})


@bp.errorhandler(Rejection)
def _rejection(exc: Rejection) -> Response:
    return error_page(exc.status, exc.detail, headers=exc.headers)


def _http_message(exc: HTTPException) -> str:
    if exc.code == 400 and "CSRF" in type(exc).__name__:
        return ("This form has expired or did not come from this dashboard. Go back, reload "
                "the page and try again.")
    if exc.code == 404:
        return "There is no such page."
    if exc.code == 405:
        return "This page does not take that method."
    if exc.code == 413:
        return ("The form sent more than this dashboard accepts (a chain to rehearse is at "
                f"most {MAX_BUNDLE_BYTES // 1024} KiB).")
    return "The request could not be handled."


@bp.errorhandler(HTTPException)
def _http(exc: HTTPException) -> Response:
    return error_page(exc.code or 500, _http_message(exc))


@bp.errorhandler(Exception)
def _unexpected(exc: Exception) -> Response:
    log.exception("unexpected error on a dashboard page")
    return error_page(500, "The page could not be built. The error is in the server's log.")


def install(app: Flask) -> None:
    """Unknown paths and methods outside the API: the HTML page; inside it: problem+json."""

    from collector.web.dashboard.signin import current_analyst

    def _routing(exc: HTTPException) -> Response:
        if is_api_path(request.path):
            return problems.response(problems.from_http(exc))
        try:  # a signed-in analyst keeps the navigation on the error page
            g.analyst = current_analyst()
        except RedisError:
            g.analyst = None
        return error_page(exc.code or 500, _http_message(exc))

    app.register_error_handler(404, _routing)
    app.register_error_handler(405, _routing)
