"""Lua sources: every script is sent with ``common.lua`` in front (EVAL scripts cannot import)."""

from __future__ import annotations

from importlib import resources


def bare(name: str, package: str = "collector.aggregates") -> str:
    """The script ``lua/<name>.lua`` of ``package`` alone: for a script that needs none of
    ``common.lua``, whose definitions alone cost Redis CPU on every call."""
    return (resources.files(package) / "lua" / f"{name}.lua").read_text("utf-8")


def source(name: str, package: str = "collector.aggregates") -> str:
    """The script ``lua/<name>.lua`` of ``package``, preceded by the shared helpers."""
    return bare("common") + bare(name, package)
