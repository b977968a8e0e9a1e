"""Where the CLI reads aggregates from: the HTTP API (with a token) or Redis directly.

Both sources answer each view with the API's JSON document, so every command prints the same
thing whichever way it reads: ``ApiSource`` asks the API, ``redis_source.RedisSource`` calls
the read views the API answers from (imported only when used: it needs the whole read side).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from collector.aggregates.read.windows import Window


class CliError(Exception):
    """A message for the operator and the exit status to leave with."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


class Source(Protocol):
    """One method per view; each returns the API's document or raises ``CliError``."""

    def summary(self, window: Window) -> dict[str, Any]: ...

    def hosts(self, window: Window, sort: str, cursor: str | None,
              limit: int) -> dict[str, Any]: ...

    def host(self, hostname: str, window: Window) -> dict[str, Any]: ...

    def chains(self, window: Window, cursor: str | None, limit: int, *,
               classification: str | None = None,
               hostname: str | None = None) -> dict[str, Any]: ...

    def chain(self, fingerprint: str, window: Window) -> dict[str, Any]: ...

    def alerts(self, cursor: str | None, limit: int) -> dict[str, Any]: ...

    def audit(self, cursor: str | None, limit: int) -> dict[str, Any]: ...

    def triage_pair(self, hostname: str, fingerprint: str, state: str,
                    note: str) -> dict[str, Any]: ...

    def triage_issuer(self, pin: str, state: str, note: str) -> dict[str, Any]: ...


def window_params(window: Window) -> dict[str, str]:
    out = {}
    if window.since is not None:
        out["since"] = window.since.isoformat()
    if window.until is not None:
        out["until"] = window.until.isoformat()
    return out


def _page_params(window: Window, cursor: str | None, limit: int) -> dict[str, str]:
    params = {**window_params(window), "limit": str(limit)}
    if cursor is not None:
        params["cursor"] = cursor
    return params


def api_source(args: argparse.Namespace) -> ApiSource | None:
    """The API the read options point at, or None to read Redis (``--redis-url``, else
    REDIS_URL); neither is a usage error."""
    url = args.url or os.environ.get("PIN_COLLECTOR_URL")
    if args.redis_url:
        return None
    if url:
        return ApiSource(url, args.token or os.environ.get("PIN_COLLECTOR_TOKEN"))
    if os.environ.get("REDIS_URL"):
        return None
    raise CliError("say where to read: --url (with a token) or --redis-url", 2)


class ApiSource:
    def __init__(self, base_url: str, token: str | None, timeout: float = 10.0) -> None:
        if urllib.parse.urlsplit(base_url).scheme not in ("http", "https"):
            raise CliError("--url must be an http:// or https:// URL", 2)
        if not token:
            raise CliError("a token is needed: --token or PIN_COLLECTOR_TOKEN", 2)
        self.base = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def summary(self, window: Window) -> dict[str, Any]:
        return self.get("/v1/summary", window_params(window))

    def hosts(self, window: Window, sort: str, cursor: str | None, limit: int) -> dict[str, Any]:
        return self.get("/v1/hosts", {**_page_params(window, cursor, limit), "sort": sort})

    def host(self, hostname: str, window: Window) -> dict[str, Any]:
        path = "/v1/hosts/" + urllib.parse.quote(hostname, safe="")
        return self.get(path, window_params(window))

    def chains(self, window: Window, cursor: str | None, limit: int, *,
               classification: str | None = None,
               hostname: str | None = None) -> dict[str, Any]:
        params = _page_params(window, cursor, limit)
        if classification is not None:
            params["classification"] = classification
        if hostname is not None:
            params["hostname"] = hostname
        return self.get("/v1/chains", params)

    def chain(self, fingerprint: str, window: Window) -> dict[str, Any]:
        path = "/v1/chains/" + urllib.parse.quote(fingerprint, safe="")
        return self.get(path, window_params(window))

    def alerts(self, cursor: str | None, limit: int) -> dict[str, Any]:
        params = {"limit": str(limit), **({"cursor": cursor} if cursor else {})}
        return self.get("/v1/alerts", params)

    def audit(self, cursor: str | None, limit: int) -> dict[str, Any]:
        params = {"limit": str(limit), **({"cursor": cursor} if cursor else {})}
        return self.get("/v1/triage/audit", params)

    def triage_pair(self, hostname: str, fingerprint: str, state: str,
                    note: str) -> dict[str, Any]:
        path = (f"/v1/triage/pairs/{urllib.parse.quote(hostname, safe='')}/"
                f"{urllib.parse.quote(fingerprint, safe='')}")
        return self.get(path, {}, body={"state": state, "note": note})

    def triage_issuer(self, pin: str, state: str, note: str) -> dict[str, Any]:
        path = "/v1/triage/issuers/" + urllib.parse.quote(pin, safe="")
        return self.get(path, {}, body={"state": state, "note": note})

    def get(self, path: str, params: dict[str, str],
            body: dict[str, Any] | None = None) -> dict[str, Any]:
        """GET ``path``, or PUT ``body`` as JSON to it."""
        if body is None:
            return self.request("GET", path, params)
        return self.request("PUT", path, params, json.dumps(body).encode("utf-8"),
                            "application/json")

    def request(self, method: str, path: str, params: dict[str, str], data: bytes | None = None,
                content_type: str | None = None, *, field_errors: bool = False) -> dict[str, Any]:
        """The JSON answer of ``method path?params`` (with ``data`` as its body), or a
        ``CliError`` naming the problem's detail (and its per-field errors if asked)."""
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        url = self.base + path + query  # callers quote each path segment
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        if content_type is not None:
            headers["Content-Type"] = content_type
        req = urllib.request.Request(url, data=data, headers=headers,  # noqa: S310
                                     method=method)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310
                doc: dict[str, Any] = json.loads(resp.read())
                return doc
        except urllib.error.HTTPError as exc:
            detail = ""
            with contextlib.suppress(ValueError, AttributeError):
                problem = json.loads(exc.read())
                detail = str(problem.get("detail", ""))
                if field_errors:
                    detail = "; ".join([detail, *(m for ms in (problem.get("errors") or {})
                                                  .values() for m in ms)])
            raise CliError(f"HTTP {exc.code}: {detail or exc.reason}",
                           1 if exc.code == 404 else 2) from None
        except (urllib.error.URLError, OSError) as exc:
            raise CliError(f"cannot reach {self.base}: {exc}", 2) from None


def pages(page: Callable[[str | None], dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every item of a paged list: ``page(cursor)`` for each page, following next_cursor."""
    cursor: str | None = None
    while True:
        doc = page(cursor)
        yield from doc["items"]
        cursor = doc.get("next_cursor")
        if not cursor:
            return
