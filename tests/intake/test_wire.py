"""intake: header checks, the bounded read and the strict JSON parse, as pure functions."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from collector.intake import wire
from collector.intake.rejection import Rejection

CAP = 1000


def status(fn: Any, *args: Any) -> int:
    with pytest.raises(Rejection) as info:
        fn(*args)
    return info.value.status


@pytest.mark.parametrize("ctype", ["application/json", "Application/JSON; charset=utf-8",
                                   "application/expect-ct-report+json; charset=utf-8",
                                   " application/json ;x=y"])
def test_accepted_content_types(ctype: str) -> None:
    wire.check_headers(ctype, None, 10, CAP)
    wire.check_headers(ctype, "identity", None, CAP)


@pytest.mark.parametrize("ctype", [None, "", "text/plain", "application/reports+json",
                                   "application/x-www-form-urlencoded", "multipart/form-data",
                                   "application/jsonp", "json"])
def test_other_content_types_are_415(ctype: str | None) -> None:
    assert status(wire.check_headers, ctype, None, 10, CAP) == 415


@pytest.mark.parametrize("encoding", ["gzip", "br", "deflate", "identity, gzip"])
def test_content_encodings_are_415(encoding: str) -> None:
    assert status(wire.check_headers, "application/json", encoding, 10, CAP) == 415


def test_content_length_over_the_cap_is_413() -> None:
    wire.check_headers("application/json", None, CAP, CAP)
    assert status(wire.check_headers, "application/json", None, CAP + 1, CAP) == 413


@pytest.mark.parametrize("size", [0, 1, CAP - 1, CAP])
def test_read_capped_reads_whole_bodies_up_to_the_cap(size: int) -> None:
    assert wire.read_capped(io.BytesIO(b"x" * size), CAP) == b"x" * size


@pytest.mark.parametrize("size", [CAP + 1, 5 * 1024 * 1024])
def test_read_capped_stops_after_cap_plus_one(size: int) -> None:
    stream = io.BytesIO(b"x" * size)
    assert status(wire.read_capped, stream, CAP) == 413
    assert stream.tell() <= CAP + 1


def test_read_capped_handles_short_reads() -> None:
    class Trickle(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            return super().read(min(7, size if size and size > 0 else 7))

    assert wire.read_capped(Trickle(b"y" * 500), CAP) == b"y" * 500
    assert status(wire.read_capped, Trickle(b"y" * 5000), CAP) == 413


@pytest.mark.parametrize("body", [
    b"", b"{", b"[" * 100_000, b'{"a":1,"a":2}', b'{"o":{"a":1,"a":2}}', b'{"a":NaN}',
    b'{"a":Infinity}', b'{"a":-Infinity}', b'{"a":1' + b"0" * 5000 + b"}", b'{"a":"\xff"}',
    '{"a":1}'.encode("utf-16"), '{"a":1}'.encode("utf-8-sig"), b"{'a':1}", b'{"a":1} x',
])
def test_malformed_bodies_are_400(body: bytes) -> None:
    assert status(wire.parse_json, body) == 400


def test_depth_limit() -> None:
    ok = "[" * (wire.MAX_DEPTH - 1) + "{}" + "]" * (wire.MAX_DEPTH - 1)
    assert wire.parse_json(ok.encode()) is not None
    deep = "[" + ok + "]"
    assert status(wire.parse_json, deep.encode()) == 400


def test_valid_json_round_trips() -> None:
    doc = {"hostname": "a.example.com", "port": 0, "x": [1, {"y": None}], "z": "\ud800"}
    assert wire.parse_json(json.dumps(doc).encode()) == doc


def test_problems_never_echo_the_body() -> None:
    with pytest.raises(Rejection) as info:
        wire.parse_json(b'{"ZQXMARK":1,"ZQXMARK":2}')
    assert "ZQXMARK" not in json.dumps(info.value.body())


def test_a_stalled_body_is_a_408_that_closes_the_connection() -> None:
    from collector.intake.rejection import Rejection

    class Stalled:
        def read(self, n: int) -> bytes:
            raise TimeoutError("timed out")

    with pytest.raises(Rejection) as info:
        wire.read_capped(Stalled(), 1024)  # type: ignore[arg-type]
    assert info.value.status == 408
    assert info.value.headers["Connection"] == "close"
