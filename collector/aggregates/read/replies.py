"""Redis replies decoded into the values the API returns, the name of the overflow member, and
the one command redis-py balks at."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

OTHER = "other"
"""The member a capped ranking folds the rest into (hosts of a chain, chains of a host)."""


def text(value: bytes | str) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else value


def int_or_none(value: Any) -> int | None:
    """A decimal reply as an int; None when missing, empty or not digits."""
    return int(value) if value not in (None, b"", "") and text(value).isdigit() else None


def ranked(pairs: Any) -> Iterator[tuple[str, int]]:
    """(member, score) pairs from a WITHSCORES reply, decoded, scores as ints."""
    for member, score in pairs:
        yield text(member), int(score)


def pairs(reply: Any) -> list[tuple[bytes, float]]:
    """(member, score) pairs of a raw WITHSCORES reply, undecoded: RESP3 sends pairs, RESP2
    a flat list of alternating members and scores."""
    if reply and isinstance(reply[0], list | tuple):
        return [(m, float(n)) for m, n in reply]
    it = iter(reply)
    return [(m, float(n)) for m, n in zip(it, it, strict=True)]


def rfc3339(when: datetime) -> str:
    return when.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def iso(ms: Any) -> str | None:
    """Epoch milliseconds (as Redis returns them) to an RFC 3339 UTC string, whole seconds."""
    if ms in (None, b"", ""):
        return None
    when = datetime.fromtimestamp(int(ms) / 1000, UTC).replace(microsecond=0)
    return rfc3339(when)


def pfcount(pipe: Any, *keys: str) -> None:
    """Queue PFCOUNT: redis-py refuses ``pipe.pfcount`` in cluster mode even within a slot."""
    pipe.execute_command("PFCOUNT", *keys)


def zunion_raw(pipe: Any, keys: list[str]) -> None:
    """Queue ZUNION WITHSCORES without redis-py's reply callback (~2 µs a pair): ``pairs``
    reads the reply."""
    pipe.execute_command("ZUNION", len(keys), *keys, "WITHSCORES")


def zrevrange_raw(pipe: Any, key: str, start: int, stop: int) -> None:
    """Queue ZRANGE ... REV WITHSCORES without redis-py's reply callback: ``pairs`` reads it."""
    pipe.execute_command("ZRANGE", key, start, stop, "REV", "WITHSCORES")
