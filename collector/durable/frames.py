"""The spool's on-disk record: a frame that finds its own end and proves its own integrity.

MAGIC(4) | len u32 BE | crc32(len_bytes + payload) u32 BE | payload

The CRC covers the length too, so a flipped length is caught rather than followed; the magic
lets a reader skip a damaged region and find the next intact frame (the CRC rules out a
payload that happens to contain the magic bytes).
"""

from __future__ import annotations

import mmap
import struct
import zlib

MAGIC = b"\xd3\x5a\xc0\x01"  # not ASCII, so rare inside JSON payloads
MAX_RECORD = 16 * 2**20  # a larger length field is "impossible", i.e. corruption
HEADER = struct.Struct(">4sII")
OK, INCOMPLETE, BAD = 0, 1, 2


def _crc(n: int, payload: bytes) -> int:
    return zlib.crc32(payload, zlib.crc32(n.to_bytes(4, "big")))


def frame(payload: bytes) -> bytes:
    """One on-disk entry."""
    n = len(payload)
    if n > MAX_RECORD:
        raise ValueError(f"record of {n} bytes exceeds {MAX_RECORD}")
    return HEADER.pack(MAGIC, n, _crc(n, payload)) + payload


def parse(buf: mmap.mmap, pos: int, size: int) -> tuple[int, int]:
    """(status, end) of the frame at pos; its payload is buf[pos + HEADER.size : end]."""
    if size - pos < HEADER.size:
        return INCOMPLETE, size
    magic, n, crc = HEADER.unpack_from(buf, pos)
    end = pos + HEADER.size + n
    if magic != MAGIC or n > MAX_RECORD:
        return BAD, pos
    if end > size:
        return INCOMPLETE, end
    return (OK if _crc(n, buf[pos + HEADER.size : end]) == crc else BAD), end


def resync(buf: mmap.mmap, start: int, size: int) -> int | None:
    """Offset of the next magic that starts an intact frame, if any."""
    while (i := buf.find(MAGIC, start, size)) != -1:
        if parse(buf, i, size)[0] == OK:
            return i
        start = i + 1
    return None
