"""Which writers are gone for good: dead, with no segment of theirs left to replay.

Why: each writer id keeps an idempotency mark in Redis, and a mark may be dropped only when
no record of that writer can ever be delivered again (``collector.aggregates.retention``
argues it). Records of writer W live only in W's memory and in W's segment files, so W is
gone when, in this order: its owner lock is free (the process is dead, and a dead process
never creates a segment again), and then no segment of W is left in the directory (a
drainer deletes a segment only after Redis acknowledged all of it). Checked the other way
round, W could seal a segment and die between the two checks.

Only writers this directory knows (a lock file or a segment here) are considered: a writer
of another machine, whose spool is elsewhere, is never taken for dead.
"""

from __future__ import annotations

import os
import re

from collector.durable.owners import owner_alive
from collector.durable.segments import OWNER, list_segments

# GroupCommit writes under "<writer>.d" when the spool refuses: never spooled, never retried,
# so that id is gone as soon as its writer is.
DIRECT_SUFFIX = ".d"


def known_writers(directory: str, me: str) -> set[str]:
    """Writers with a lock file or a segment in ``directory``, other than ``me``.

    Taken before a drain, whose sweep deletes the lock files of dead writers it leaves
    without segments."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return set()
    found = {n.removesuffix(".owner") for n in names if n.endswith(".owner")}
    found = {w for w in found if re.fullmatch(OWNER, w)}
    found.update(owner for owner, _, _ in list_segments(directory))
    found.discard(me)
    return found


def gone_writers(directory: str, writers: set[str]) -> list[str]:
    """The ids of ``writers`` that can never deliver a record again, with their direct ids."""
    dead = [w for w in sorted(writers) if not owner_alive(directory, w)]  # first: see above
    if not dead:
        return []
    left = {owner for owner, _, _ in list_segments(directory)}
    return [i for w in dead if w not in left for i in (w, w + DIRECT_SUFFIX)]
