"""UTC text and relative age."""

from __future__ import annotations

from datetime import UTC, datetime

from collector.web.dashboard import timefmt

NOW = datetime(2026, 12, 1, 16, 20, tzinfo=UTC)


def test_utc_text() -> None:
    assert timefmt.utc("2026-12-01T13:20:59Z") == "2026-12-01 13:20 UTC"
    assert timefmt.utc("2026-12-01T14:20:00+01:00") == "2026-12-01 13:20 UTC"
    assert timefmt.utc("2027-06-01") == "2027-06-01"
    assert timefmt.utc(None) == "—"
    assert timefmt.utc("garbage") == "garbage"


def test_relative_age() -> None:
    assert timefmt.age("2026-12-01T13:20:00Z", NOW) == "3 h ago"
    assert timefmt.age("2026-12-01T16:19:50Z", NOW) == "just now"
    assert timefmt.age("2026-12-01T16:05:00Z", NOW) == "15 min ago"
    assert timefmt.age("2026-11-20T16:20:00Z", NOW) == "11 d ago"
    assert timefmt.age("2027-01-26T16:20:00Z", NOW) == "in 56 d"
    assert timefmt.age("2020-12-01T16:20:00Z", NOW) == "6 y ago"
    assert timefmt.age(None, NOW) == "" and timefmt.age("nope", NOW) == ""
