"""What a request handler reaches through ``current_app``: the wired services and web guards."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from collector import wiring
from collector.web.auth import TokenCheck
from collector.web.ratelimit import Limits

WEB = "collector.web"


@dataclass(frozen=True)
class WebServices:
    """The request-side guards; built by ``create_app`` next to the wired services."""

    tokens: TokenCheck
    limiter: Limits | None


def services() -> wiring.Services:
    found: wiring.Services = current_app.extensions[wiring.EXTENSION]
    return found


def web() -> WebServices:
    found: WebServices = current_app.extensions[WEB]
    return found
