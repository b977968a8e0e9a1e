"""pin-collector: TLS pin-failure reports in, answers for security analysts out.

The package is laid out by the flow of a report (see README, "Architecture"):
intake → intel → aggregates → durable → wiring → web → server → cli. Importing
``collector`` loads none of them; ``create_app`` is fetched from ``collector.web.app`` on
first use, so ``gunicorn 'collector:create_app()'`` keeps working.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collector.web.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from collector.web.app import create_app

        return create_app
    raise AttributeError(f"module 'collector' has no attribute {name!r}")
