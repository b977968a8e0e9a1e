"""Sign-in, sign-out, and the gate every dashboard page passes (SPEC section 10).

- Every POST carries a valid CSRF token (checked first, before anything is read).
- ``GET /`` without a session shows the sign-in form; a good token starts a session and
  returns to ``next`` (a local path only); a bad one answers 401 with the form and an alert.
- Any other page without a session leads to sign-in and back: with an invalid cookie (ended,
  expired, replayed after sign-out) by a redirect; with no cookie at all by a small page that
  moves on with ``<meta http-equiv="refresh">``. That page is for links from chat and mail:
  the browser withholds a ``SameSite=Strict`` cookie on a cross-site navigation and on its
  redirects, and the sign-in form's new cookie would replace the valid one it holds. The
  refresh is a same-site navigation, so a signed-in analyst lands on the page, signed in.
- Sign-in attempts are limited per client address prefix (a /24 or /64, as the report
  route's sources; the address is the proxy-resolved one): past ``SIGNIN_PER_MINUTE``, 429
  with ``Retry-After``, so a token cannot be guessed at the speed of the network. The budget
  is each worker's own (no Redis key, no configuration): a fleet of W workers admits up to
  W times as many, still far too few to guess a token.
"""

from __future__ import annotations

from flask import g, redirect, request, session, url_for
from werkzeug.wrappers import Response

from collector.intake.rejection import Rejection
from collector.web.context import services, web
from collector.web.dashboard import forms
from collector.web.dashboard.blueprint import bp
from collector.web.dashboard.context import dashboard
from collector.web.dashboard.render import page
from collector.web.dashboard.security import safe_next
from collector.web.dashboard.sessions import COOKIE, SID, Analyst, session_id
from collector.web.ratelimit import RateLimiter

OPEN_ENDPOINTS = frozenset({"dashboard.signin", "dashboard.favicon"})
SIGNIN_PER_MINUTE = 10
"""Sign-in attempts per minute per client address prefix, each worker; no burst above it."""


def limiter() -> RateLimiter:
    return RateLimiter(SIGNIN_PER_MINUTE, burst=SIGNIN_PER_MINUTE)


def current_analyst() -> Analyst | None:
    sid = session_id()
    return dashboard().sessions.touch(sid) if sid is not None else None


def _here() -> str:
    query = request.query_string.decode("ascii", "replace")
    return request.path + (f"?{query}" if query else "")


def sign_in_page(next_path: str | None, status: int = 200, error: bool = False,
                 retry_after: str | None = None) -> Response:
    resp = page("signin.html", status, next_path=next_path, error=error,
                retry_after=retry_after)
    if retry_after is not None:
        resp.headers["Retry-After"] = retry_after
    return resp


@bp.before_request
def _gate() -> Response | None:
    """CSRF on every POST, then the session on every page but sign-in and static files."""
    if request.method == "POST":
        request.max_content_length = forms.FORM_MAX_BYTES  # 413 before the form is parsed
        request.max_form_parts = forms.FORM_MAX_PARTS
        dashboard().csrf.protect()
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    analyst = current_analyst()
    if analyst is None:
        target = safe_next(_here()) if request.method == "GET" else None
        if request.endpoint == "dashboard.overview" and request.method == "GET":
            return sign_in_page(target if request.query_string else None)
        if COOKIE not in request.cookies and target is not None:
            return page("signin_needed.html", next_path=target,
                        signin_url=url_for("dashboard.signin", next=target))
        return redirect(url_for("dashboard.signin", next=target), 303
                        if request.method == "POST" else 302)
    g.analyst = analyst
    g.token_name = analyst.name  # the access log's token_name, as for the API
    services().ingestor.settle()  # a page after a 204 shows it, whichever worker took it
    return None


@bp.route("/signin", methods=["GET", "POST"])
def signin() -> Response:
    target = safe_next(request.values.get("next"))
    if request.method == "GET":
        if current_analyst() is not None:
            return redirect(target or url_for("dashboard.overview"), 303)
        return sign_in_page(target)
    limits = dashboard().signin_limiter
    wait = limits.check(request.remote_addr)
    if wait:
        return sign_in_page(target, 429, retry_after=limits.retry_after(wait))
    try:
        name = web().tokens.require(f"Bearer {forms.sign_in_token(request.form)}")
    except Rejection:
        return sign_in_page(target, 401, error=True)
    store = dashboard().sessions
    old = session_id()
    if old is not None:
        store.end(old)
    session.clear()  # a new session id and a new CSRF seed: nothing carries over (fixation)
    session[SID] = store.start(name)
    session.permanent = True
    return redirect(target or url_for("dashboard.overview"), 303)


@bp.post("/signout")
def signout() -> Response:
    sid = session_id()
    if sid is not None:
        dashboard().sessions.end(sid)
    session.clear()
    return redirect(url_for("dashboard.overview"), 303)
