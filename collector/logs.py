"""One structured JSON access-log line per request, and the per-request metrics.

Hooks are app-wide but registered through the health blueprint (``install``), so every
request is timed from before authentication to the final response, errors included. A line
holds the method, the route template, the route name, the status, the duration and, for
problems, the fixed reason slug: never a body, a query string, a header value or an address.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import queue
import sys
import time

from flask import Blueprint, Response, g, request

from collector import metrics
from collector.problems import PROBLEM_JSON

log = logging.getLogger("collector.access")
_TYPE_PREFIX = "https://pin-collector.dev/problems/"


class _DroppingQueueHandler(logging.handlers.QueueHandler):
    """Hands lines to a writer thread; when it cannot keep up, lines are dropped and counted.

    A request must never wait on stderr: a log reader that falls behind (a full pipe, a slow
    terminal) would otherwise stall every worker thread, report intake included.
    """

    dropped = 0

    def enqueue(self, record: logging.LogRecord) -> None:
        try:
            self.queue.put_nowait(record)
        except queue.Full:
            type(self).dropped += 1


def _configure() -> None:
    """Emit at INFO on stderr unless the operator configured this logger already."""
    if not log.handlers:
        sink = logging.StreamHandler(sys.stderr)
        sink.setFormatter(logging.Formatter("%(message)s"))
        lines: queue.Queue[logging.LogRecord] = queue.Queue(maxsize=10_000)
        log.addHandler(_DroppingQueueHandler(lines))
        listener = logging.handlers.QueueListener(lines, sink)
        listener._thread = None  # started lazily, in the process that serves (after fork)
        _listeners.append(listener)
        log.setLevel(logging.INFO)
        log.propagate = False


_listeners: list[logging.handlers.QueueListener] = []
_started_in: set[int] = set()


def _ensure_listener() -> None:
    """Start the writer thread once per process: threads do not survive gunicorn's fork."""
    pid = os.getpid()
    if pid not in _started_in:
        _started_in.add(pid)
        for listener in _listeners:
            listener._thread = None
            listener.start()


def problem_reason(response: Response) -> str | None:
    """The reason slug of a problem+json response (bodies are at most 1 KiB)."""
    if response.mimetype != PROBLEM_JSON or response.is_streamed:
        return None
    try:
        doc = json.loads(response.get_data())
    except ValueError:
        return None
    kind = doc.get("type") if isinstance(doc, dict) else None
    if isinstance(kind, str) and kind.startswith(_TYPE_PREFIX):
        return metrics.reason_label(kind.removeprefix(_TYPE_PREFIX))
    return "other"


def _start() -> None:
    _ensure_listener()
    g.pc_started = time.perf_counter()


def _finish(response: Response) -> Response:
    seconds = time.perf_counter() - g.get("pc_started", time.perf_counter())
    rule = request.url_rule
    endpoint = metrics.endpoint_label(rule.endpoint if rule is not None else None)
    reason = problem_reason(response)
    status = response.status_code
    try:
        metrics.observe(endpoint, status, seconds)
        if request.method == "POST" and request.path == "/v1/reports" and status >= 400:
            metrics.REJECTED.labels(reason or "other").inc()
    except Exception:  # metrics must never turn an answer into an error
        log.debug("metrics update failed", exc_info=True)
    line = {"event": "request", "method": request.method[:16],
            "route": rule.rule if rule is not None else None, "endpoint": endpoint,
            "status": status, "duration_ms": round(seconds * 1000, 3)}
    if reason is not None:
        line["reason"] = reason
    log.info(json.dumps(line, separators=(",", ":")))
    return response


def install(bp: Blueprint) -> None:
    _configure()
    bp.before_app_request(_start)
    bp.after_app_request(_finish)
