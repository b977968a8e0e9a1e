"""Dashboard sessions: a signed cookie naming a server-side record that sign-out deletes.

The cookie (Flask's signed session, ``CookieSessions``) carries only a random session id and
the CSRF token's seed; the record in Redis (``keys.SessionKeys``, named by a digest of the
id) carries the token's name. A cookie is worth nothing without its record, so sign-out ends
the session on the server: a replayed cookie opens no page. Both expire after ``IDLE``
without use: the record's TTL and the cookie's lifetime are refreshed by every page.

The record also holds a keyed digest (``tag``) of the token that signed in; a session whose
token is no longer configured (or was replaced under the same name) ends at its next use.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import redis
from flask import Flask, Request, session
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface

from collector.aggregates.keys import Keys
from collector.web.dashboard.blueprint import is_api_path

IDLE = timedelta(hours=12)
COOKIE = "pc_session"
SID = "sid"
_SID_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")
_SECRET_LABEL = b"pin-collector dashboard session v1"


def session_secret(device_secret: bytes) -> bytes:
    """The cookie-signing key: derived from the device secret (configured, or generated in
    the data dir), so every worker, and every machine sharing that secret, accepts it."""
    return hmac.new(device_secret, _SECRET_LABEL, hashlib.sha256).digest()


@dataclass(frozen=True)
class Analyst:
    """Who a valid session belongs to: the analyst token's name (triage records it)."""

    name: str
    session_id: str


class SessionStore:
    """The server-side records, on the read client (keys in ``keys.SessionKeys``)."""

    def __init__(self, client: redis.Redis, keys: Keys, secret: bytes,
                 tokens: Iterable[tuple[str, str]], idle: timedelta = IDLE) -> None:
        self.client = client
        self.keys = keys.sessions
        self.ttl_s = int(idle.total_seconds())
        self._secret = secret
        self._tags = {name: self._tag(token) for name, token in tokens}

    def _tag(self, token: str) -> str:
        return hmac.new(self._secret, token.encode("utf-8"), hashlib.sha256).hexdigest()[:32]

    def start(self, name: str) -> str:
        """A new session for the token named ``name``; returns its id (for the cookie)."""
        sid = secrets.token_urlsafe(32)
        record = {"name": name, "tag": self._tags[name], "at": int(time.time() * 1000)}
        self.client.set(self.keys.session(sid), json.dumps(record), ex=self.ttl_s)
        return sid

    def touch(self, sid: str) -> Analyst | None:
        """The session's analyst, its idle timer restarted; None when it is not (or no
        longer) valid. One round trip."""
        if not _SID_SHAPE.fullmatch(sid):
            return None
        key = self.keys.session(sid)
        with self.client.pipeline(transaction=False) as pipe:
            pipe.get(key)
            pipe.expire(key, self.ttl_s)
            raw, _ = pipe.execute()
        try:
            record: Any = json.loads(raw) if raw else None
        except ValueError:
            record = None
        if not isinstance(record, dict):
            return None
        name = record.get("name")
        tag = self._tags.get(name) if isinstance(name, str) else None
        if not isinstance(name, str) or tag is None \
                or not hmac.compare_digest(tag, str(record.get("tag", ""))):
            self.end(sid)  # the token was withdrawn or replaced: so is its session
            return None
        return Analyst(name, sid)

    def end(self, sid: str) -> None:
        if _SID_SHAPE.fullmatch(sid):
            self.client.delete(self.keys.session(sid))


def session_id() -> str | None:
    """The id the request's signed cookie carries, if any."""
    found = session.get(SID)
    return found if isinstance(found, str) else None


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed cookie, opened for dashboard paths only (the JSON API never reads or
    sets it), ``Secure`` when the request came over TLS (``over_tls`` decides per request)."""

    def __init__(self, over_tls: Callable[[], bool]) -> None:
        self._over_tls = over_tls

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if is_api_path(request.path):
            return None  # a null session: nothing read, nothing written
        return super().open_session(app, request)

    def get_cookie_secure(self, app: Flask) -> bool:
        return self._over_tls()


def configure(app: Flask, device_secret: bytes, over_tls: Callable[[], bool]) -> bytes:
    """Cookie settings of SPEC section 10; returns the signing key."""
    secret = session_secret(device_secret)
    app.secret_key = secret
    app.session_interface = CookieSessions(over_tls)
    app.config.update(
        SESSION_COOKIE_NAME=COOKIE,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_PATH="/",
        PERMANENT_SESSION_LIFETIME=IDLE,
        SESSION_REFRESH_EACH_REQUEST=True,
    )
    return secret
