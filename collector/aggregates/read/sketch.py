"""Device sketches of the field pin inventory: merged and counted here, written by the writer
(registers computed by ``merge.register``, stored by host.lua).

A sketch is a HyperLogLog of ``M`` one-byte registers stored as a plain string of fixed size
(Redis's own HLL turns dense, 12 KiB, at ~300 devices, so one per app build and day would make
memory grow with reports). Standard error 1.04/sqrt(M), about 1.6 %, and far less for a few
hundred devices, where the estimator behaves like linear counting. ``registers`` is the
reference of what the writer stores for a set of devices (tests check Redis against it);
``estimate`` is Ertl's improved estimator, the one Redis's PFCOUNT uses, so small counts are
nearly exact.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable

M = 4000
"""Registers per sketch (host.lua ``INV_M``)."""
Q = 50
"""Hash bits counted after the index: register values are 0..Q + 1."""

_ALPHA_INF = 0.721347520444481703680
_HIGH = int.from_bytes(b"\x80" * M, "big")
_LOW7 = int.from_bytes(b"\x7f" * M, "big")
_ALL = (1 << (8 * M)) - 1


def _as_int(raw: bytes | None) -> int:
    data = (raw or b"")[:M].ljust(M, b"\0")
    return int.from_bytes(data, "big") & _LOW7  # values < 128: the merge below needs it


def merge(sketches: Iterable[bytes | None]) -> bytes:
    """Register-wise maximum of the sketches (a missing one is empty): the union's sketch.

    Big-integer arithmetic on all registers at once: per byte, (a | 0x80) - b keeps its high
    bit exactly when a >= b and never borrows from its neighbour (both are below 128).
    """
    acc = 0
    for raw in sketches:
        b = _as_int(raw)
        mask = ((((acc | _HIGH) - b) & _HIGH) >> 7) * 0xFF
        acc = (acc & mask) | (b & (mask ^ _ALL))
    return acc.to_bytes(M, "big")


def _sigma(x: float) -> float:
    if x == 1.0:
        return math.inf
    y, z = 1.0, x
    while True:
        x *= x
        z_prev = z
        z += x * y
        y += y
        if z == z_prev:
            return z


def _tau(x: float) -> float:
    if x in (0.0, 1.0):
        return 0.0
    y, z = 1.0, 1.0 - x
    while True:
        x = math.sqrt(x)
        z_prev = z
        y *= 0.5
        z -= (1.0 - x) ** 2 * y
        if z == z_prev:
            return z / 3


_BELOW = [bytes(range(k)) for k in range(Q + 2)]


def _top(data: bytes) -> int:
    """1 + the largest register value, at most Q + 1, by bisection on ``translate`` (C
    speed): registers rarely pass ~25, so counting only values present halves the work."""
    lo, hi = 0, Q + 1  # a value >= lo is present (or lo == 0); none >= hi counted beyond
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if data.translate(None, _BELOW[mid]):
            lo = mid
        else:
            hi = mid - 1
    return min(lo + 1, Q + 1)


def estimate(sketch: bytes | None) -> int:
    """Distinct devices of a sketch (or of a ``merge``)."""
    data = (sketch or b"")[:M].ljust(M, b"\0")
    top = _top(data)
    hist = [data.count(k) for k in range(top)] + [0] * (Q + 1 - top)
    hist.append(M - sum(hist))  # Q + 1, and anything above (never written)
    if hist[0] == M:
        return 0
    z = M * _tau((M - hist[Q + 1]) / M)
    for k in range(Q, 0, -1):
        z = (z + hist[k]) * 0.5
    z += M * _sigma(hist[0] / M)
    return round(_ALPHA_INF * M * M / z)


def count(sketches: Iterable[bytes | None]) -> int:
    """Distinct devices of the union of sketches."""
    return estimate(merge(sketches))


def registers(devices: Iterable[str]) -> bytes:
    """The sketch the writer stores for ``devices`` (its reference, for tests and tools)."""
    regs = bytearray(M)
    for dev in devices:
        h = hashlib.sha1(dev.encode("utf-8"), usedforsecurity=False).hexdigest()
        rank = 1
        for ch in h[6:19]:
            nibble = int(ch, 16)
            zeros = 4 if nibble == 0 else 4 - nibble.bit_length()
            rank += zeros
            if zeros < 4:
                break
        rank = min(rank, Q + 1)
        idx = int(h[:6], 16) % M
        regs[idx] = max(regs[idx], rank)
    return bytes(regs)
