"""The baseline endpoint plus the collector's own parsing and validation, and nothing else.

Its throughput over the baseline's bounds what any collector that parses and validates each
report the way SPEC §3 asks can reach on this stack, before it stores or counts anything:
``bench/run.py`` loads it alternately with the baseline and the collector and prints it.
"""

from __future__ import annotations

import time

from flask import Flask, request

from collector.intake import formats, wire

app = Flask(__name__)
_SECRET = bytes(32)


@app.post("/v1/reports")
def post_report() -> tuple[str, int]:
    doc = wire.parse_json(request.get_data())
    formats.build(doc, received_ms=int(time.time() * 1000), secret=_SECRET,
                  client_addr=request.remote_addr)
    return "", 204
