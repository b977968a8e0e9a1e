"""Per-app services: classification at the report's time, or at receipt for skewed clocks."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from collector import create_app
from collector.config import Settings
from collector.intake import formats, wire
from tests.helpers import EXAMPLES, example


def _report(date_time: str) -> formats.Report:
    doc = json.loads(example("chromium-hpkp.json"))
    doc["date-time"] = date_time
    return formats.build(wire.parse_json(json.dumps(doc).encode()),
                         received_ms=1_795_000_000_000, secret=b"s", client_addr=None)


def test_public_trust_at_report_time_or_at_receipt(settings: Settings, tmp_path: Path) -> None:
    roots = str(EXAMPLES / "public-root.pem")
    app = create_app(dataclasses.replace(settings, public_roots=roots))
    try:
        svc = app.extensions["collector"]
        # The leaf was not yet valid at this (skewed) client time, but is when received.
        skewed = svc.classify(_report("2001-01-01T00:00:00Z"))
        assert skewed.classification == "public-trust"
        svc._classes.clear()
        on_time = svc.classify(_report("2026-11-27T20:10:15.123Z"))
        assert on_time.classification == "public-trust"
    finally:
        svc.ingestor.close()


def test_not_public_without_its_root(settings: Settings) -> None:
    app = create_app(settings)  # certifi roots: the example PKI is private
    try:
        svc = app.extensions["collector"]
        assert svc.classify(_report("2026-11-27T20:10:15.123Z")).classification == "unknown"
    finally:
        app.extensions["collector"].ingestor.close()
