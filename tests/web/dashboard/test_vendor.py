"""The vendored Chart.js is the file VENDOR.md describes, byte for byte."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

VENDOR = Path(__file__).resolve().parents[3] / "collector" / "web" / "static" / "vendor" \
    / "chart.js-4.6.1"


def test_chart_js_matches_its_recorded_sha256() -> None:
    recorded = re.search(r"sha256 of the file here: `([0-9a-f]{64})`",
                         (VENDOR / "VENDOR.md").read_text("utf-8"))
    assert recorded is not None
    actual = hashlib.sha256((VENDOR / "chart.umd.min.js").read_bytes()).hexdigest()
    assert actual == recorded.group(1)


def test_chart_js_ships_no_source_map_reference() -> None:
    assert b"sourceMappingURL" not in (VENDOR / "chart.umd.min.js").read_bytes()
