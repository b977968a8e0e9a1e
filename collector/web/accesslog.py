"""One structured JSON access-log line per request, and the per-request metrics.

Hooks are app-wide but registered through the health blueprint (``install``), so every
request is timed from before authentication to the final response, errors included. A line
holds the method, the route template, the route name, the status, the duration and, for
problems, the fixed reason slug: never a body, a query string, a header value or an address.

The hooks run on every report, so they are cheap: the constant part of a line is built once
per (method, route), and lines reach stderr through a buffer that a background thread writes
out every ``FLUSH_S`` (one write per batch, no thread wake-up per request). While that buffer
is the logger's only handler, a line is put in it directly: a ``LogRecord`` (and the caller
lookup ``logging`` does for it) would cost more than the rest of the hook.
"""

from __future__ import annotations

import atexit
import collections
import functools
import json
import logging
import os
import sys
import threading
import time

from flask import Blueprint, Response, g, request

from collector.intake.rejection import TYPE_PREFIX
from collector.web import metrics
from collector.web.problems import PROBLEM_JSON

log = logging.getLogger("collector.access")
FLUSH_S = 0.1
MAX_BUFFERED = 10_000


class BufferedSink(logging.Handler):
    """Lines are written by a background thread; a reader that falls behind loses lines.

    A request must never wait on stderr: a log reader that stops reading (a full pipe, a slow
    terminal) would otherwise stall every worker thread, report intake included.
    """

    def __init__(self, stream_fd: int) -> None:
        super().__init__()
        self.fd = stream_fd
        self.lines: collections.deque[str] = collections.deque()
        self.dropped = 0
        self._pid = 0
        self._starting = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        self.write(record.getMessage())

    def write(self, text: str) -> None:
        if len(self.lines) >= MAX_BUFFERED:
            self._drop(1)
            return
        self.lines.append(text)
        if self._pid != os.getpid():  # threads do not survive gunicorn's fork
            self._start()

    def _start(self) -> None:
        with self._starting:
            if self._pid != os.getpid():
                self._pid = os.getpid()
                threading.Thread(target=self._run, name="collector-access-log",
                                 daemon=True).start()
                atexit.register(self.flush)

    def _run(self) -> None:
        while True:
            time.sleep(FLUSH_S)
            self.flush()

    def flush(self) -> None:
        out = []
        while self.lines:
            out.append(self.lines.popleft())
        if not out:
            return
        data = ("\n".join(out) + "\n").encode("utf-8", "replace")
        try:
            while data:
                data = data[os.write(self.fd, data):]
        except OSError:
            self._drop(len(out))

    def _drop(self, n: int) -> None:
        self.dropped += n
        metrics.LOG_LINES_DROPPED.inc(n)


def _configure() -> None:
    """Emit at INFO on stderr unless the operator configured this logger already."""
    global _SINK
    if not log.handlers:
        _SINK = BufferedSink(sys.stderr.fileno())
        log.addHandler(_SINK)
        log.setLevel(logging.INFO)
        log.propagate = False


_SINK: BufferedSink | None = None  # ours, when _configure installed it


def _emit(text: str) -> None:
    """``log.info(text)``, straight into our buffer while nothing else would see the record."""
    handlers = log.handlers
    if _SINK is not None and len(handlers) == 1 and handlers[0] is _SINK and not log.filters \
            and not _SINK.filters and _SINK.level <= logging.INFO:
        _SINK.write(text)
    else:
        log.info(text)


def problem_reason(response: Response) -> str | None:
    """The reason slug of a problem+json response (bodies are at most 1 KiB)."""
    if response.status_code < 400 or response.mimetype != PROBLEM_JSON or response.is_streamed:
        return None
    try:
        doc = json.loads(response.get_data())
    except ValueError:
        return None
    kind = doc.get("type") if isinstance(doc, dict) else None
    if isinstance(kind, str) and kind.startswith(TYPE_PREFIX):
        return metrics.reason_label(kind.removeprefix(TYPE_PREFIX))
    return "other"


@functools.lru_cache(maxsize=256)
def _prefix(method: str, route: str | None, endpoint: str) -> str:
    """The constant head of a line; arguments come from a bounded set (routes, methods)."""
    head = json.dumps({"event": "request", "method": method[:16], "route": route,
                       "endpoint": endpoint}, separators=(",", ":"))
    return head[:-1] + ',"status":'


def line(method: str, route: str | None, endpoint: str, status: int, seconds: float,
         reason: str | None, token_name: str | None = None) -> str:
    tail = f',"reason":"{reason}"}}' if reason is not None else "}"  # a fixed slug
    if token_name is not None:  # the analyst token's name (never the token): [A-Za-z0-9._@-]
        tail = f',"token_name":{json.dumps(token_name)}{tail}'
    return f'{_prefix(method, route, endpoint)}{status},"duration_ms":' \
           f'{round(seconds * 1000, 3)}{tail}'


def _start() -> None:
    g.pc_started = time.perf_counter()


def _finish(response: Response) -> Response:
    seconds = time.perf_counter() - g.get("pc_started", time.perf_counter())
    rule = request.url_rule
    record(request.method, rule.rule if rule is not None else None,
           rule.endpoint if rule is not None else None, response.status_code, seconds,
           problem_reason(response), g.get("token_name"))
    return response


def record(method: str, route: str | None, endpoint: str | None, status: int, seconds: float,
           reason: str | None, token_name: str | None = None) -> None:
    """One finished request: its metrics and its log line (also for the lean report route)."""
    endpoint = metrics.endpoint_label(endpoint)
    try:
        metrics.observe(endpoint, status, seconds)
        if status >= 400 and endpoint == "api.post_report":
            metrics.REJECTED.labels(reason or "other").inc()
    except Exception:  # metrics must never turn an answer into an error
        log.debug("metrics update failed", exc_info=True)
    if log.isEnabledFor(logging.INFO):
        _emit(line(method, route, endpoint, status, seconds, reason, token_name))


def install(bp: Blueprint) -> None:
    _configure()
    bp.before_app_request(_start)
    bp.after_app_request(_finish)
