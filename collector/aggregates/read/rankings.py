"""One page of a ranking: a global sorted set, or the union of the window's daily ones.

Without a window a page is one ZREVRANGE on a global ranking, so its cost depends on
``limit``, never on the number of members. With a window the ranking is the union of the
daily rankings the window touches (day resolution), paged in memory. A member whose rank
changes between two pages may appear twice or be skipped, as with any offset.
"""

from __future__ import annotations

from collections.abc import Callable

from collector.aggregates.read.context import ReadContext
from collector.aggregates.read.replies import ranked
from collector.aggregates.read.windows import Window, stamp, window_days

Page = tuple[list[tuple[str, int]], list[str], bool]


def page(ctx: ReadContext, key: str, day_key: Callable[[str], str], window: Window,
         offset: int, limit: int) -> Page:
    """(member, score) for one page, the window's day stamps, and whether more follow."""
    if not window.bounded:
        rows = list(ranked(ctx.client.zrevrange(key, offset, offset + limit, withscores=True)))
        return rows[:limit], [], len(rows) > limit
    days = [stamp(d) for d in window_days(ctx, window)]
    if not days:
        return [], [], False
    union = sorted(ranked(ctx.client.zunion([day_key(d) for d in days], withscores=True)),
                   key=lambda p: (-p[1], p[0]))
    return union[offset:offset + limit], days, len(union) > offset + limit
