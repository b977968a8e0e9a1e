"""Why a request is refused, as data: the one error type every step raises, Flask-free.

Rejections of reports are public and attacker-driven, so every field is built from fixed
strings: a fixed ``reason`` slug, a fixed ``detail``, and for 422 the schema's own field names
with the schema's own messages. ``web.problems`` turns one into an RFC 9457 response.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

TYPE_PREFIX = "https://pin-collector.dev/problems/"
MAX_BODY = 1024


def status_reason(status: int) -> str:
    """The reason slug of a bare HTTP status: its phrase, lower-case, hyphenated."""
    return HTTPStatus(status).phrase.lower().replace(" ", "-").replace("'", "")


class Rejection(Exception):
    """A refusal with a status, a fixed reason slug and a fixed detail."""

    def __init__(
        self,
        status: int,
        reason: str,
        detail: str,
        *,
        errors: Mapping[str, list[str]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.detail = detail
        self.errors = dict(errors or {})
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "type": TYPE_PREFIX + self.reason,
            "title": HTTPStatus(self.status).phrase,
            "status": self.status,
            "detail": self.detail,
        }
        if self.errors:
            doc["errors"] = self.errors
        return doc

    def encoded(self) -> str:
        """The compact JSON body, cut to the 1 KiB promise by dropping trailing fields' errors."""
        doc = self.body()
        text = json.dumps(doc, separators=(",", ":"))
        while len(text) > MAX_BODY and doc.get("errors"):
            errors = dict(doc["errors"])
            errors.popitem()
            doc["errors"] = errors
            text = json.dumps(doc, separators=(",", ":"))
        return text
