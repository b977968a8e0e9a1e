"""Time windows: the since/until bounds of a view and the daily buckets they touch."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from collector.aggregates.read.context import ReadContext
from collector.aggregates.read.replies import text

DailyRows = list[tuple[datetime, dict[str, int]]]


@dataclass(frozen=True)
class Window:
    """Optional since/until bounds; None on both sides means the whole retention period."""

    since: datetime | None = None
    until: datetime | None = None

    @property
    def bounded(self) -> bool:
        return self.since is not None or self.until is not None

    def span(self, retention_days: int, now: datetime) -> tuple[datetime, datetime] | None:
        """The effective [since, until], clipped to what Redis still holds; None if empty."""
        floor = now - timedelta(days=retention_days)
        since = max(self.since or floor, floor)
        until = min(self.until or now, now)
        return (since, until) if since <= until else None

    def days(self, retention_days: int, now: datetime) -> list[datetime]:
        """UTC midnights of the daily buckets this window touches (at most retention + 2)."""
        span = self.span(retention_days, now)
        if span is None:
            return []
        since, until = span
        day = since.replace(hour=0, minute=0, second=0, microsecond=0)
        out: list[datetime] = []
        while day <= until and len(out) <= retention_days + 1:
            out.append(day)
            day += timedelta(days=1)
        return out

    def hour_in(self, day: datetime, hour: int) -> bool:
        start = day + timedelta(hours=hour)
        end = start + timedelta(hours=1)
        return (self.since is None or end > self.since) and \
            (self.until is None or start <= self.until)


def window_days(ctx: ReadContext, window: Window) -> list[datetime]:
    """The window's days as of now, within the context's retention."""
    return window.days(ctx.retention_days, datetime.now(UTC))


def stamp(day: datetime) -> str:
    """The ``YYYYMMDD`` a daily bucket's key carries."""
    return day.strftime("%Y%m%d")


def daily(ctx: ReadContext, window: Window, key_of: Callable[[str], str]) -> DailyRows:
    """Each day's bucket hash in the window, decoded, in one pipeline."""
    days = window_days(ctx, window)
    with ctx.client.pipeline(transaction=False) as pipe:
        for d in days:
            pipe.hgetall(key_of(stamp(d)))
        rows = pipe.execute()
    return [(d, {text(k): int(v) for k, v in row.items()})
            for d, row in zip(days, rows, strict=True)]


def windowed(rows: DailyRows, window: Window) -> tuple[int, Counter[str]]:
    """Reports in the window (hour resolution) and the summed breakdown fields."""
    total, fields = 0, Counter[str]()
    for day, row in rows:
        total += sum(v for k, v in row.items()
                     if k[0] == "h" and k[1:].isdigit() and window.hour_in(day, int(k[1:])))
        fields.update({k: v for k, v in row.items() if k[0] != "h" and k != "n"})
    return total, fields
