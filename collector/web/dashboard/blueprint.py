"""The dashboard's blueprint and which paths belong to it.

Everything outside the JSON API and the operators' probes is the dashboard's: its pages, its
static files, and the HTML error pages of unknown paths. The API keeps its problem+json
answers (``is_api_path``).
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint

WEB_DIR = Path(__file__).resolve().parent.parent
API_PATHS = frozenset({"/v1", "/metrics", "/healthz", "/readyz"})

STATIC_DIR = WEB_DIR / "static"
"""Served by the app's own ``static`` route (``/static/...``): ``setup.install`` points it here."""

bp = Blueprint("dashboard", __name__, template_folder=str(WEB_DIR / "templates"))


def is_api_path(path: str) -> bool:
    """The JSON API (``/v1/*``) and the probes: never answered with HTML."""
    return path in API_PATHS or path.startswith("/v1/")
