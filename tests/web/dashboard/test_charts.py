"""The chart view-model: data for dashboard.js, an aria-label naming it, a fallback table."""

from __future__ import annotations

from collector.web.dashboard import charts


def test_timeline_chart() -> None:
    doc = {"interval": "hour", "points": [
        {"start": "2026-12-01T10:00:00Z", "reports": 0},
        {"start": "2026-12-01T11:00:00Z", "reports": 3},
        {"start": "2026-12-01T12:00:00Z", "reports": 1}]}
    chart = charts.timeline("t", doc, "for api.example.com")
    assert chart.data == {"interval": "hour", "labels": ["12-01 10:00", "12-01 11:00",
                                                         "12-01 12:00"],
                          "values": [0, 3, 1], "series": "Reports"}
    assert chart.aria_label.startswith("Timeline of reports for api.example.com, per hour")
    assert chart.aria_label.endswith("4 reports in all")
    assert [n for _, _, n in chart.rows] == [3, 1] and chart.total == 4


def test_empty_and_long_timelines() -> None:
    assert charts.timeline("t", None, "x").rows == []
    many = {"interval": "day", "points": [{"start": f"2026-10-{d:02d}", "reports": 1}
                                          for d in range(1, 32)] * 2}
    chart = charts.timeline("t", many, "x")
    assert len(chart.rows) == charts.FALLBACK_ROWS and chart.more_rows == 62 - 48
