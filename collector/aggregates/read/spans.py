"""What a window's daily buckets add up to: reports at hour resolution, the breakdown fields at
day resolution, and the first and last report inside the window.

A daily bucket (host, pair or chain) holds ``n``, hourly counts ``hHH``, breakdown fields and
``first``/``last`` (ms) of that day. First/last in a window are exact when the day's own
first/last falls inside it, else bounded by the earliest/latest in-window hour with reports.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from collector.aggregates.read.windows import DailyRows, Window, stamp

_NOT_SUMMED = frozenset(("n", "first", "last"))


@dataclass(frozen=True)
class Span:
    """A window's sums over one series of daily buckets."""

    reports: int
    fields: Counter[str]
    first_ms: int | None
    last_ms: int | None
    days: tuple[str, ...]
    """Stamps of the days with reports inside the window, oldest first."""

    def pick(self, prefix: str) -> dict[str, int]:
        """Breakdown fields with one prefix (``c``, ``a``, ``F``…), the prefix removed."""
        return {k[len(prefix):]: v for k, v in self.fields.items() if k.startswith(prefix)}


EMPTY = Span(0, Counter(), None, None, ())


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def _is_hour(field: str) -> bool:
    return len(field) == 3 and field[0] == "h" and field[1:].isdigit()


def span(rows: DailyRows, window: Window) -> Span:
    """Sum daily rows (as ``windows.daily`` returns them) over ``window``."""
    total, fields = 0, Counter[str]()
    first: int | None = None
    last: int | None = None
    days: list[str] = []
    for day, row in sorted(rows, key=lambda r: r[0]):
        hours = [int(k[1:]) for k, v in row.items()
                 if _is_hour(k) and v and window.hour_in(day, int(k[1:]))]
        if not hours:
            continue
        days.append(stamp(day))
        total += sum(row[f"h{h:02d}"] for h in hours)
        fields.update({k: v for k, v in row.items() if not _is_hour(k) and k not in _NOT_SUMMED})
        start = _ms(day + timedelta(hours=min(hours)))
        end = _ms(day + timedelta(hours=max(hours) + 1)) - 1
        if first is None:
            first = max(row.get("first", start), start,
                        _ms(window.since) if window.since else start)
        last = min(row.get("last", end), end, _ms(window.until) if window.until else end)
    return Span(total, fields, first, last, tuple(days))


def covers(window: Window, first_ms: int | None, last_ms: int | None) -> bool:
    """Whether the window holds everything from ``first_ms`` to ``last_ms``: then all-time
    figures of that record are the window's figures too."""
    if not window.bounded:
        return True
    if first_ms is None or last_ms is None:
        return False
    return (window.since is None or _ms(window.since) <= first_ms) and \
        (window.until is None or _ms(window.until) >= last_ms)
