"""What the dashboard's handlers reach through ``current_app``: the session store, the CSRF
guard, the TLS check and the sign-in limiter, built once by ``setup.install``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import current_app

from collector.web.dashboard.sessions import SessionStore
from collector.web.ratelimit import RateLimiter

EXTENSION = "collector.dashboard"


@dataclass(frozen=True)
class Dashboard:
    sessions: SessionStore
    csrf: Any
    """flask_wtf.csrf.CSRFProtect (untyped)."""
    over_tls: Callable[[], bool]
    signin_limiter: RateLimiter
    """Sign-in attempts per client address prefix (``signin.SIGNIN_PER_MINUTE``)."""


def dashboard() -> Dashboard:
    found: Dashboard = current_app.extensions[EXTENSION]
    return found
