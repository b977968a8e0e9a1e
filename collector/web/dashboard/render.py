"""Rendering a page: the template, its status, and the URL helpers every template uses.

Links keep the page's window (``page_url``), so moving between pages keeps what the analyst
is looking at, and every URL says it: a shared link opens the same view.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Response, g, make_response, render_template, request, url_for

from collector.web.dashboard.params import PRESETS, WindowChoice


def window() -> WindowChoice | None:
    found: WindowChoice | None = g.get("dashboard_window")
    return found


def page_url(endpoint: str, **values: Any) -> str:
    """``url_for`` with the current window's parameters added (unless ``values`` sets them);
    a value of None drops that parameter."""
    chosen = window()
    merged: dict[str, Any] = dict(chosen.query) if chosen is not None else {}
    merged.pop("interval", None)
    merged.update(values)
    return url_for(endpoint, **{k: v for k, v in merged.items() if v is not None})


def here(**changes: Any) -> str:
    """The current page's URL with some query parameters changed (None removes one)."""
    args: dict[str, Any] = request.args.to_dict()
    args.update(changes)
    view_args = dict(request.view_args or {})
    endpoint = request.endpoint or "dashboard.overview"
    return url_for(endpoint, **view_args, **{k: v for k, v in args.items() if v is not None})


def window_links() -> list[tuple[str, str, bool]]:
    """(label, URL, current) of the window presets, and of the whole retention period."""
    chosen = window()
    current = chosen.last if chosen is not None else None
    bounded = chosen is not None and bool(chosen.query.get("since") or
                                          chosen.query.get("until"))
    links = [("All", here(last=None, since=None, until=None, cursor=None, interval=None),
              current is None and not bounded)]
    for name in PRESETS:
        label = name.replace("h", " h").replace("d", " d")
        links.append((f"Last {label}", here(last=name, since=None, until=None, cursor=None,
                                            interval=None), current == name))
    return links


TEMPLATE_GLOBALS = {
    "page_url": page_url,
    "here": here,
    "window_links": window_links,
}


def page(template: str, status: int = 200, **context: Any) -> Response:
    context.setdefault("now", datetime.now(UTC))
    context.setdefault("window", window())
    return make_response(render_template(template, **context), status)
