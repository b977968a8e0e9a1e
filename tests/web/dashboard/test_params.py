"""Page query parameters: the window, the chart interval, the host list's sort/class/cursor."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from collector.aggregates.read.params import encode_cursor
from collector.web.dashboard.params import BadQuery, alert_cursor, host_list_args, window_choice

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_no_window_is_the_retention_period_charted_per_hour() -> None:
    found = window_choice({}, NOW)
    assert not found.window.bounded and found.interval == "hour" and found.query == {}


def test_presets_are_relative_to_now() -> None:
    day = window_choice({"last": "24h"}, NOW)
    assert day.window.since == NOW - timedelta(hours=24) and day.window.until is None
    assert day.interval == "hour" and day.query == {"last": "24h"}
    month = window_choice({"last": "30d"}, NOW)
    assert month.interval == "day" and month.last == "30d"


def test_form_values_without_a_zone_are_utc() -> None:
    found = window_choice({"since": "2026-11-30T08:15", "until": "2026-12-01"}, NOW)
    assert found.window.since == datetime(2026, 11, 30, 8, 15, tzinfo=UTC)
    assert found.window.until == datetime(2026, 12, 1, tzinfo=UTC)
    assert found.interval == "hour"
    assert found.query == {"since": "2026-11-30T08:15", "until": "2026-12-01"}
    assert window_choice({"since": "2026-12-01T10:00:00+02:00"}, NOW).window.since == \
        datetime(2026, 12, 1, 8, tzinfo=UTC)


def test_empty_values_are_absent_and_interval_overrides() -> None:
    found = window_choice({"since": "", "until": " ", "interval": "day"}, NOW)
    assert not found.window.bounded and found.interval == "day"


@pytest.mark.parametrize("args", [
    {"last": "1y"}, {"last": "7d", "until": "2026-12-01"}, {"since": "soon"},
    {"since": "2026-12-02", "until": "2026-12-01"}, {"interval": "minute"},
    {"since": "2026-13-01T00:00"},
])
def test_bad_windows(args: dict[str, str]) -> None:
    with pytest.raises(BadQuery):
        window_choice(args, NOW)


def test_host_list_cursor_is_tied_to_sort_and_class() -> None:
    assert host_list_args({}).offset == 0
    plain = encode_cursor("h", "reports", 50)
    assert host_list_args({"cursor": plain}).offset == 50
    filtered = encode_cursor("hc", "reports_public_trust", 7)
    assert host_list_args({"cursor": filtered, "classification": "public-trust"}).offset == 7
    for args in ({"cursor": filtered}, {"cursor": plain, "classification": "unknown"},
                 {"cursor": plain, "sort": "last_seen"}, {"classification": "evil"},
                 {"sort": "hostname"}):
        with pytest.raises(BadQuery):
            host_list_args(args)


def test_alert_cursor() -> None:
    assert alert_cursor({}) is None and alert_cursor({"cursor": "17-2"}) == "17-2"
    with pytest.raises(BadQuery):
        alert_cursor({"cursor": "0-0"})
