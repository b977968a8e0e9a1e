"""Lua sources: every script is sent with ``common.lua`` in front (EVAL scripts cannot import)."""

from __future__ import annotations

from importlib import resources


def _read(package: str, name: str) -> str:
    return (resources.files(package) / "lua" / f"{name}.lua").read_text("utf-8")


def source(name: str, package: str = "collector.aggregates") -> str:
    """The script ``lua/<name>.lua`` of ``package``, preceded by the shared helpers."""
    return _read("collector.aggregates", "common") + _read(package, name)
