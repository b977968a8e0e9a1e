"""gunicorn's threaded worker, with connections spread evenly over the worker processes.

Every worker polls the one shared listening socket, and the first to wake takes each new
connection. A burst of new keep-alive connections (a load balancer's pool, a benchmark)
can then all land on one process, which serves them on one core (the GIL) for their
lifetime while the other workers idle. Here each worker publishes its connection count in a
table shared by all workers (an anonymous shared mmap made by the master before forking);
a worker holding more than one connection above the least loaded live worker stops
accepting for ``PAUSE_S`` and leaves the connection in the queue for the others.

The socket stays shared (unlike ``SO_REUSEPORT``, one socket per worker), so a graceful
reload or a worker's death never resets connections queued for it, and a worker that
cannot accept only delays a connection by a pause, never refuses it.
"""

from __future__ import annotations

import mmap
import os
import struct
import threading
import time
from typing import Any

from gunicorn.workers.gthread import ThreadWorker as _ThreadWorker

PAUSE_S = 0.002
_SLOTS = 64
_SLOT = struct.Struct("=qq")  # pid, open connections
# Made at import, in the master (gunicorn loads the worker class before forking), so every
# worker maps the same pages. No file, no connection: nothing outlives the server.
_TABLE = mmap.mmap(-1, _SLOTS * _SLOT.size)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class ThreadWorker(_ThreadWorker):  # type: ignore[misc]
    _slot = -1
    _paused_until = 0.0

    def init_process(self) -> None:
        self._slot = (self.age % _SLOTS) * _SLOT.size  # unique among live workers
        _SLOT.pack_into(_TABLE, self._slot, os.getpid(), 0)
        super().init_process()

    def _publish(self) -> None:
        if self._slot >= 0:
            _SLOT.pack_into(_TABLE, self._slot, os.getpid(), self.nr_conns)

    def overloaded(self) -> bool:
        """The balancing rule: True when some other live worker holds at least two
        connections fewer, so this one should leave the next connection to the others."""
        mine, pid = self.nr_conns, os.getpid()
        for other, conns in _SLOT.iter_unpack(_TABLE):
            if other and other != pid and conns < mine - 1 and _alive(other):
                return True
        return False

    def accept(self, listener: Any) -> None:
        if self.overloaded():
            self._paused_until = time.monotonic() + PAUSE_S
            self.set_accept_enabled(False)  # the others are woken for it as well
            # wake this worker's poll loop when the pause ends, so it accepts again then
            timer = threading.Timer(PAUSE_S, self.method_queue.defer, (lambda: None,))
            timer.daemon = True
            timer.start()
            return
        super().accept(listener)
        self._publish()

    def wait_for_and_dispatch_events(self, timeout: float) -> None:
        self._publish()  # once per loop: closed connections are seen by the others too
        super().wait_for_and_dispatch_events(timeout)

    def set_accept_enabled(self, enabled: bool) -> None:
        if enabled and time.monotonic() < self._paused_until:
            return
        super().set_accept_enabled(enabled)


def release(worker: Any) -> None:
    """Free a worker's slot; the master calls it when the worker exits, even killed."""
    age = getattr(worker, "age", None)
    if isinstance(age, int):
        _SLOT.pack_into(_TABLE, (age % _SLOTS) * _SLOT.size, 0, 0)
