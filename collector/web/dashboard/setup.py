"""Installing the dashboard on the app: cookie sessions, CSRF, headers, templates, errors.

CSRF (Flask-WTF's ``CSRFProtect``) is checked by the dashboard's own gate for its POSTs only
(``WTF_CSRF_CHECK_DEFAULT`` off), so the JSON API, bearer tokens and ``POST /v1/reports``,
is exempt by construction and unchanged.
"""

from __future__ import annotations

import time

from flask import Flask, Response, g, send_from_directory
from flask_wtf.csrf import CSRFProtect  # type: ignore[import-untyped]

from collector import wiring
from collector.web.dashboard import display, errors, pages, render, security, sessions
from collector.web.dashboard import rehearse as rehearse  # registers the routes
from collector.web.dashboard import signin as signin  # registers the gate
from collector.web.dashboard import triage as triage  # registers the route
from collector.web.dashboard.blueprint import STATIC_DIR, bp
from collector.web.dashboard.context import EXTENSION, Dashboard

_ = pages  # registers the pages


@bp.get("/favicon.ico")
def favicon() -> Response:
    return send_from_directory(STATIC_DIR, "favicon.ico",
                               mimetype="image/vnd.microsoft.icon", max_age=86400)


@bp.after_request
def _timing(response: Response) -> Response:
    """Server time of the page (``Server-Timing``), what bench/dashboard.py reports."""
    started = g.get("pc_started")
    if started is not None:
        spent = (time.perf_counter() - started) * 1000
        response.headers["Server-Timing"] = f"app;dur={spent:.2f}"
    return response


def install(app: Flask, svc: wiring.Services) -> None:
    over_tls = security.tls_check(svc.settings.trusted_proxies)
    secret = sessions.configure(app, svc.device_secret, over_tls)
    app.static_folder = str(STATIC_DIR)  # /static/...: the stylesheet, scripts, Chart.js
    app.config.update(
        SEND_FILE_MAX_AGE_DEFAULT=3600,
        WTF_CSRF_CHECK_DEFAULT=False,  # checked by the dashboard's gate, for its forms only
        WTF_CSRF_TIME_LIMIT=None,  # valid as long as the session: a page left open works
        WTF_CSRF_SSL_STRICT=True,
    )
    csrf = CSRFProtect(app)
    store = sessions.SessionStore(svc.reads.client, svc.reads.keys, secret, svc.api_tokens)
    app.extensions[EXTENSION] = Dashboard(sessions=store, csrf=csrf, over_tls=over_tls,
                                          signin_limiter=signin.limiter())
    app.jinja_env.filters.update(display.FILTERS)
    app.jinja_env.globals.update(display.GLOBALS)
    app.jinja_env.globals.update(render.TEMPLATE_GLOBALS)
    app.after_request(security.apply_headers)
    errors.install(app)
    app.register_blueprint(bp)
