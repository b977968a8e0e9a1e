"""The ``interval`` promise: what the request threads wrote to the spool is fsync'd within 100 ms.

Why a thread of its own: the writer thread may be stuck on Redis for its whole socket
timeout (0.5 s), and the promise must not depend on Redis. It wakes every ``FLUSH_S``
(half the promised 100 ms, so a record written just after a sync started is still on disk
in time as long as an fdatasync takes under 50 ms), and does nothing when nothing was
written: one wake-up and at most one fdatasync per 50 ms per worker, instead of one per
group of requests.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from collector.durable.segments import SpoolUnavailable
from collector.durable.spool import Spool

log = logging.getLogger("collector.ingest")

FLUSH_S = 0.05
PROMISE_S = 0.1  # what the README and SPEC §7 promise: at most this much lost on power loss


class Flusher:
    """Calls ``spool.sync()`` every ``every`` seconds until closed."""

    def __init__(self, spool: Spool, *, every: float = FLUSH_S,
                 sleep: Callable[[float], bool] | None = None) -> None:
        if not 0 < every <= PROMISE_S / 2:
            raise ValueError(f"the flush interval must be in (0, {PROMISE_S / 2}] s")
        self.spool, self.every = spool, every
        self._stop = threading.Event()
        # Returns True when the loop must end; tests pass one that steps on their signal.
        self._sleep = sleep or self._stop.wait
        self._thread: threading.Thread | None = None

    def run_once(self) -> bool:
        """One flush: True if something was synced. A failing disk is logged, not raised:
        the records are in the writer's outbox too, and Redis acknowledging them makes them
        durable there."""
        try:
            return self.spool.sync()
        except SpoolUnavailable as exc:
            log.error("spool fsync failed: %s", exc)
            return False

    def _loop(self) -> None:
        while not self._sleep(self.every):
            self.run_once()
        self.run_once()  # closing: what was written last is on disk before the thread ends

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="collector-flusher",
                                            daemon=True)
            self._thread.start()

    def close(self, timeout: float = 2.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
