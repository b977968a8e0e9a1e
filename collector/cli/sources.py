"""Where the CLI reads aggregates from: the HTTP API (with a token) or Redis directly.

Both sources answer with the API's JSON documents, so every command prints the same thing
whichever way it reads; Redis access goes through ``Queries``, exactly as the API does.
"""

from __future__ import annotations

import contextlib
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from typing import Any, Protocol

from collector.aggregates.readutil import BadCursor, Window, decode_cursor, encode_cursor
from collector.intake.hostnames import HostnameError, normalise

_FP = re.compile(r"[0-9a-f]{64}")


class CliError(Exception):
    """A message for the operator and the exit status to leave with."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


class Source(Protocol):
    def get(self, path: str, params: dict[str, str]) -> dict[str, Any]: ...


def window_params(since: datetime | None, until: datetime | None) -> dict[str, str]:
    out = {}
    if since is not None:
        out["since"] = since.isoformat()
    if until is not None:
        out["until"] = until.isoformat()
    return out


class ApiSource:
    def __init__(self, base_url: str, token: str | None, timeout: float = 10.0) -> None:
        if urllib.parse.urlsplit(base_url).scheme not in ("http", "https"):
            raise CliError("--url must be an http:// or https:// URL", 2)
        if not token:
            raise CliError("a token is needed: --token or PIN_COLLECTOR_TOKEN", 2)
        self.base = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def get(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        url = self.base + path + query  # callers quote each path segment
        req = urllib.request.Request(url, headers={  # noqa: S310 (scheme checked above)
            "Authorization": f"Bearer {self.token}", "Accept": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310
                doc: dict[str, Any] = json.loads(resp.read())
                return doc
        except urllib.error.HTTPError as exc:
            detail = ""
            with contextlib.suppress(ValueError, AttributeError):
                detail = str(json.loads(exc.read()).get("detail", ""))
            raise CliError(f"HTTP {exc.code}: {detail or exc.reason}",
                           1 if exc.code == 404 else 2) from None
        except (urllib.error.URLError, OSError) as exc:
            raise CliError(f"cannot reach {self.base}: {exc}", 2) from None


class RedisSource:
    """Answers the same paths as the API, straight from Redis through Queries."""

    def __init__(self, redis_url: str) -> None:
        import redis

        from collector.aggregates.keys import Keys
        from collector.aggregates.queries import Queries
        from collector.config import Settings

        settings = Settings.from_env()
        client = redis.Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=5)
        self.queries = Queries(client, Keys(settings.key_prefix), settings.retention_days)

    def get(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        import redis

        try:
            return self._get(path, params)
        except redis.RedisError as exc:
            raise CliError(f"redis: {type(exc).__name__}: {exc}", 2) from None

    def _get(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        q = self.queries
        w = Window(*(datetime.fromisoformat(params[k]) if k in params else None
                     for k in ("since", "until")))
        limit = min(max(int(params.get("limit", "50")), 1), 500)
        parts = [urllib.parse.unquote(p) for p in path.strip("/").split("/")[1:]]  # no "v1"
        if parts == ["summary"]:
            return q.summary(w)
        if parts in (["hosts"], ["chains"]):
            kind, sort = parts[0][0], params.get("sort", "reports")
            try:
                offset = decode_cursor(params.get("cursor"), kind, sort)
            except BadCursor:
                raise CliError("not a cursor from this list", 2) from None
            items, more = q.hosts(w, sort, offset, limit) if kind == "h" \
                else q.chains(w, offset, limit)
            cursor = encode_cursor(kind, sort, offset + len(items)) if more else None
            return {"items": items, "next_cursor": cursor}
        found: dict[str, Any] | None = None
        if parts[0] == "hosts" and len(parts) == 2:
            try:
                found = q.host(normalise(parts[1]), w)
            except HostnameError:
                found = None
        elif parts[0] == "chains" and len(parts) == 2 and _FP.fullmatch(parts[1]):
            found = q.chain(parts[1], w)
        if found is None:
            raise CliError(f"not found: {'/'.join(parts[1:])}", 1)
        return found


def pages(src: Source, path: str, params: dict[str, str]) -> Iterator[dict[str, Any]]:
    """Every item of a paged list, following next_cursor with the largest page size."""
    params = {**params, "limit": "500"}
    while True:
        doc = src.get(path, params)
        yield from doc["items"]
        if not doc.get("next_cursor"):
            return
        params["cursor"] = doc["next_cursor"]
