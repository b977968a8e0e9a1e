"""The read views and their helpers, directly against Redis: windows, cursors, missing data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import redis
from flask.testing import FlaskClient

from collector.aggregates.keys import Keys
from collector.aggregates.read.chain_list import chains_page
from collector.aggregates.read.chain_view import chain_doc
from collector.aggregates.read.context import ReadContext
from collector.aggregates.read.hosts import host_doc, hosts_page
from collector.aggregates.read.params import BadCursor, clamp_limit, decode_cursor, encode_cursor
from collector.aggregates.read.replies import iso
from collector.aggregates.read.summary import summary_doc
from collector.aggregates.read.timeline import timeline_doc
from collector.aggregates.read.windows import Window
from tests.helpers import CHROME_FP, IOS_FP, send_golden

NOW = datetime(2026, 6, 15, 12, 30, tzinfo=UTC)


def test_window_days_are_clipped_to_retention() -> None:
    assert len(Window().days(90, NOW)) == 91
    assert Window(since=NOW - timedelta(days=1)).days(90, NOW) == [
        datetime(2026, 6, 14, tzinfo=UTC), datetime(2026, 6, 15, tzinfo=UTC)]
    assert Window(until=NOW - timedelta(days=400)).days(90, NOW) == []
    assert Window(since=NOW + timedelta(days=1)).days(90, NOW) == []
    assert Window(until=datetime(1, 1, 1, tzinfo=UTC)).days(90, NOW) == []
    assert Window(since=datetime(1, 1, 1, tzinfo=UTC)).span(90, NOW) == (
        NOW - timedelta(days=90), NOW)
    day = datetime(2026, 6, 15, tzinfo=UTC)
    w = Window(since=day + timedelta(hours=3, minutes=30), until=day + timedelta(hours=5))
    assert [h for h in range(24) if w.hour_in(day, h)] == [3, 4, 5]


def test_cursors_round_trip_and_reject_garbage() -> None:
    cursor = encode_cursor("h", "reports", 150)
    assert decode_cursor(cursor, "h", "reports") == 150
    assert decode_cursor(None, "h", "reports") == 0
    for bad in ("", "!!", "aGVsbG8", cursor + "!", encode_cursor("h", "reports", 10**10)):
        with pytest.raises(BadCursor):
            decode_cursor(bad, "h", "reports")
    with pytest.raises(BadCursor):
        decode_cursor(cursor, "h", "last_seen")
    with pytest.raises(BadCursor):
        decode_cursor(cursor, "c", "reports")
    assert [clamp_limit(n) for n in (-5, 0, 1, 50, 500, 501)] == [1, 1, 1, 50, 500, 500]


def test_iso_formats_milliseconds() -> None:
    assert iso(b"1700000000123") == "2023-11-14T22:13:20Z"
    assert iso(None) is None and iso(b"") is None


def test_missing_things_are_none(rdb: redis.Redis, keys: Keys) -> None:
    ctx = ReadContext(rdb, keys, 90)
    assert host_doc(ctx, "nothing.example", Window()) is None
    assert timeline_doc(ctx, "nothing.example", "day", Window()) is None
    assert chain_doc(ctx, "0" * 64, Window()) is None
    assert hosts_page(ctx, Window(), "reports", 0, 10) == ([], False)
    assert chains_page(ctx, Window(since=NOW), 0, 10) == ([], None)
    assert summary_doc(ctx, Window())["reports"] == 0


def test_views_share_one_context(client: FlaskClient, rdb: redis.Redis, keys: Keys) -> None:
    send_golden(client)
    ctx = ReadContext(rdb, keys, 90)
    items, more = hosts_page(ctx, Window(), "reports", 0, 1)
    assert more and items[0]["hostname"] == "api.example.com"
    items, more = hosts_page(ctx, Window(), "reports", 1, 1)
    assert not more and items[0]["hostname"] == "www.datatheorem.com"
    chain = chain_doc(ctx, IOS_FP, Window())
    assert chain is not None and chain["hosts"] == [{
        "hostname": "api.example.com", "reports": 2, "classification": "unknown", "label": None,
        "triage": {"state": "open", "note": None, "by": None, "at": None, "via": None,
                   "pin": None}}]
    # A certificate gone from Redis leaves the rest of the chain view intact.
    record = rdb.hget(keys.glob.chain(CHROME_FP), "certs")
    assert isinstance(record, bytes)
    rdb.delete(keys.glob.cert(record.decode().split(",")[0]))
    chain = chain_doc(ctx, CHROME_FP, Window())
    assert chain is not None and len(chain["certificates"]) == 2
    timeline = timeline_doc(ctx, "api.example.com", "hour", Window())
    assert timeline is not None and sum(p["reports"] for p in timeline["points"]) == 4
