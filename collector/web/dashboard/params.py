"""Query parameters of the pages, validated as the API validates them (the same schemas), so
every page URL is shareable and a malformed one is a 400 page, never a 500.

The window is ``last=24h|7d|30d|90d`` (relative: a bookmark keeps meaning "the last day") or
``since``/``until`` (RFC 3339; the window form's ``YYYY-MM-DDTHH:MM`` without a zone is read
as UTC, as the form says); neither means the whole retention period. Charts show hours
(without a window: the last 7 days, as the timeline views do) unless the window spans more
than a week, then days; ``interval`` overrides either.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from marshmallow import Schema, ValidationError

from collector.aggregates.read.params import CLASSES, BadCursor, decode_cursor
from collector.aggregates.read.windows import Window
from collector.alerts.listing import valid_cursor
from collector.web.schemas.common import WindowQuery
from collector.web.schemas.hosts import HostListQuery
from collector.web.schemas.timelines import TimelineQuery

PRESETS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30),
           "90d": timedelta(days=90)}
HOURLY_UP_TO = timedelta(days=7)
_NO_ZONE = re.compile(r"\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?")
PAGE_SIZE = 50


class BadQuery(ValueError):
    """A query parameter the page cannot use; the 400 page names the parameter."""

    def __init__(self, param: str, problem: str) -> None:
        super().__init__(f"{param}: {problem}")
        self.param = param
        self.problem = problem


@dataclass(frozen=True)
class WindowChoice:
    """The page's window, the chart interval it implies, and the parameters that rebuild it
    (kept on every link, so moving between pages keeps the window)."""

    window: Window
    interval: str
    last: str | None = None
    query: dict[str, str] = field(default_factory=dict)

    @property
    def since_text(self) -> str:
        return self.query.get("since", "")

    @property
    def until_text(self) -> str:
        return self.query.get("until", "")


def first_problem(exc: ValidationError, whole: str) -> tuple[str, str]:
    """The first field marshmallow refused and its first message (``whole`` names a
    refusal of the input as a whole): what a 400 page shows."""
    messages = exc.messages if isinstance(exc.messages, dict) else {whole: exc.messages}
    name, problems = next(iter(messages.items()))
    text = problems[0] if isinstance(problems, list) and problems else str(problems)
    return str(name), str(text)


def _load(schema: type[Schema], raw: Mapping[str, str]) -> dict[str, Any]:
    try:
        found: dict[str, Any] = schema().load(dict(raw))
    except ValidationError as exc:
        raise BadQuery(*first_problem(exc, "query")) from None
    return found


def _as_rfc3339(value: str) -> str:
    """A zone-less date or date-time (what a datetime-local input sends) as UTC."""
    if not _NO_ZONE.fullmatch(value):
        return value
    if "T" not in value:
        return value + "T00:00:00Z"
    return value + (":00Z" if value.count(":") == 1 else "Z")


def window_choice(args: Mapping[str, str], now: datetime | None = None) -> WindowChoice:
    """The window of ``args`` (see the module docstring); BadQuery when malformed."""
    raw: dict[str, str] = {k: args[k].strip() for k in ("since", "until", "last", "interval")
                           if args.get(k, "").strip()}
    query: dict[str, str] = {k: raw[k] for k in ("since", "until", "last") if k in raw}
    last = raw.pop("last", None)
    wanted: dict[str, str] = {k: _as_rfc3339(raw[k]) for k in ("since", "until") if k in raw}
    if "interval" in raw:
        wanted["interval"] = raw["interval"]
        query["interval"] = raw["interval"]
    loaded = _load(TimelineQuery if "interval" in wanted else WindowQuery, wanted)
    try:
        since = loaded["since"].astimezone(UTC) if loaded.get("since") else None
        until = loaded["until"].astimezone(UTC) if loaded.get("until") else None
    except (OverflowError, ValueError):
        raise BadQuery("since", "Out of range.") from None
    if last is not None:
        if last not in PRESETS:
            raise BadQuery("last", f"One of {', '.join(PRESETS)}.")
        if since is not None or until is not None:
            raise BadQuery("last", "Give either 'last' or 'since'/'until', not both.")
        since = (now or datetime.now(UTC)) - PRESETS[last]
    if since and until and since > until:
        raise BadQuery("since", "Must not be after 'until'.")
    span = (until or now or datetime.now(UTC)) - since if since else None
    interval = loaded.get("interval") or (
        "day" if span is not None and span > HOURLY_UP_TO else "hour")
    return WindowChoice(Window(since, until), interval, last, query)


@dataclass(frozen=True)
class HostListArgs:
    sort: str
    classification: str | None
    offset: int
    cursor_kind: str
    cursor_sort: str


def host_list_args(args: Mapping[str, str]) -> HostListArgs:
    """``sort`` (reports or last_seen), ``classification`` (one of the four API names) and
    ``cursor`` of the hosts page; a cursor is tied to its sort and class."""
    wanted = {k: args[k] for k in ("sort",) if args.get(k)}
    sort: str = _load(HostListQuery, wanted)["sort"]
    cls = args.get("classification") or None
    if cls is not None and cls not in CLASSES:
        raise BadQuery("classification", f"One of {', '.join(CLASSES)}.")
    kind, cursor_sort = ("h", sort) if cls is None else (
        "hc", f"{sort}_{cls.replace('-', '_')}")
    try:
        offset = decode_cursor(args.get("cursor") or None, kind, cursor_sort)
    except BadCursor:
        raise BadQuery("cursor", "Not a cursor from this list.") from None
    return HostListArgs(sort, cls, offset, kind, cursor_sort)


def alert_cursor(args: Mapping[str, str]) -> str | None:
    cursor = args.get("cursor") or None
    if cursor is not None and not valid_cursor(cursor):
        raise BadQuery("cursor", "Not a cursor from this list.")
    return cursor
