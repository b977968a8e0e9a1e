"""The frame format: every kind of damage is told apart from an intact record."""

from __future__ import annotations

import mmap

import pytest

from collector.durable.frames import (
    BAD,
    HEADER,
    INCOMPLETE,
    MAGIC,
    MAX_RECORD,
    OK,
    frame,
    parse,
    resync,
)


def buf(data: bytes) -> mmap.mmap:
    mm = mmap.mmap(-1, max(1, len(data)))
    mm.write(data)
    return mm


def test_intact_frames_parse_in_sequence() -> None:
    a, b = frame(b'{"a":1}'), frame(b"")
    mm = buf(a + b)
    assert parse(mm, 0, len(a + b)) == (OK, len(a))
    assert parse(mm, len(a), len(a + b)) == (OK, len(a + b))
    assert mm[HEADER.size : len(a)] == b'{"a":1}'


@pytest.mark.parametrize("offset", [0, 7, HEADER.size - 1, HEADER.size + 2])
def test_a_flipped_bit_anywhere_is_bad(offset: int) -> None:
    data = bytearray(frame(b"payload bytes") + frame(b"the next record"))
    data[offset] ^= 0x08
    status, _ = parse(buf(bytes(data)), 0, len(data))
    assert status == BAD  # a flipped length is caught by the CRC, not followed


@pytest.mark.parametrize("keep", [1, HEADER.size - 1, HEADER.size + 3])
def test_a_cut_frame_is_incomplete(keep: int) -> None:
    data = frame(b"payload bytes")[:keep]
    assert parse(buf(data), 0, len(data))[0] == INCOMPLETE


def test_resync_skips_damage_and_magic_inside_payloads() -> None:
    decoy = frame(b"x" + MAGIC + b"\x00\x00\x00\x01\x00\x00\x00\x00y")
    good = frame(b"good")
    data = b"garbage" + decoy + good
    mm = buf(data)
    assert resync(mm, 0, len(data)) == len(b"garbage")  # the decoy frame itself is intact
    assert resync(mm, len(b"garbage") + 1, len(data)) == len(b"garbage" + decoy)
    assert resync(mm, len(data) - 2, len(data)) is None


def test_oversized_record_refused() -> None:
    with pytest.raises(ValueError):
        frame(bytes(MAX_RECORD + 1))
