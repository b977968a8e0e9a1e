"""Whole-Redis dumps to compare two ways of writing the same reports, and varied reports.

A dump maps every key under a prefix to (type, value): hashes and sorted sets as dicts,
HyperLogLogs as their PFCOUNT (their bytes may differ with the order devices came in),
other strings as bytes, lists as lists. ``merged_shards`` folds the global shards
``{g:T}`` into one ``{g:*}`` view (a member lives in exactly one shard).
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
import re
from typing import Any

import redis

from collector.intake.chains import Chain
from collector.intake.report import Report
from tests.helpers import report

Dump = dict[str, tuple[str, Any]]


def dump(rdb: redis.Redis, prefix: str = "pc") -> Dump:
    out: Dump = {}
    for raw in sorted(rdb.scan_iter(f"{prefix}:*", count=1000)):
        key = raw.decode()
        kind = rdb.type(raw).decode()
        value: Any
        if kind == "hash":
            value = {f.decode(): v for f, v in rdb.hgetall(raw).items()}
        elif kind == "zset":
            value = {m.decode(): s for m, s in rdb.zrange(raw, 0, -1, withscores=True)}
        elif kind == "list":
            value = rdb.lrange(raw, 0, -1)
        elif kind == "set":
            value = sorted(rdb.smembers(raw))
        else:
            data = rdb.get(raw) or b""
            value = ("HLL", rdb.pfcount(raw)) if data.startswith(b"HYLL") else data
        out[key] = (kind, value)
    return out


_SHARD = re.compile(r"\{g:\d+\}")


def merged_shards(d: Dump) -> Dump:
    """The dump with every ``{g:T}`` renamed ``{g:*}`` and same-named keys merged (the
    shards' ``applied`` marks keep their names)."""
    out: Dump = {}
    for key, (kind, value) in d.items():
        name = key if key.endswith(":applied") else _SHARD.sub("{g:*}", key)
        if name in out:
            other_kind, other = out[name]
            assert other_kind == kind == "zset", name
            assert not set(other) & set(value), name  # a member lives in one shard
            value = {**other, **value}
        out[name] = (kind, value)
    return out


def differences(a: Dump, b: Dump) -> list[str]:
    """Keys missing on one side or holding another value (empty: the same data)."""
    out = [f"only left: {k}" for k in sorted(set(a) - set(b))]
    out += [f"only right: {k}" for k in sorted(set(b) - set(a))]
    out += [f"differs: {k}: {a[k]!r} != {b[k]!r}" for k in sorted(set(a) & set(b))
            if a[k] != b[k]]
    return out


def chain(n: int) -> Chain:
    """A distinct chain for the writer (it never parses certificates)."""
    ders = (f"leaf {n}".encode(), f"ca {n % 3}".encode())
    fp = hashlib.sha256(b"".join(ders)).hexdigest()
    return Chain(ders=ders, fingerprint=fp, pins=(f"pin-{n}", f"pin-ca-{n % 3}"))


def varied(rng: random.Random, n: int, *, hosts: int = 3, chains: int = 4, devices: int = 12,
           days: int = 2, base_ms: int | None = None) -> list[Report]:
    """n reports over a few hosts, chains, devices, app versions, enforcement modes, classes
    (one per (host, chain) pair), days and pin sets, some flagged, some test reports; all of
    a day in one 5-minute bucket."""
    template = report(0)
    base_ms = (template.received_ms // 300_000) * 300_000 if base_ms is None else base_ms
    out = []
    kinds = ("public-trust", "unknown", "unknown", "product")
    for _ in range(n):
        host, c = rng.randrange(hosts), rng.randrange(chains)
        kind = kinds[(host * 7 + c) % len(kinds)]  # a pair's class: one per (host, chain)
        flags: tuple[str, ...] = ()
        if rng.random() < 0.05:
            flags = ("test-report",)
        elif rng.random() < 0.1:
            flags = ("client-time-no-zone",)
        out.append(dataclasses.replace(
            template,
            hostname=f"h{host}.example.com",
            chain=chain(c),
            device=f"device-{rng.randrange(devices)}",
            app_version=rng.choice(("1.0", "1.1", "2.0")),
            platform=rng.choice(("IOS", "ANDROID")),
            enforce=rng.choice((True, False, None)),
            classification=kind, label="Lab" if kind == "product" else None,
            chain_classification=kind, chain_label=None, class_version="v1",
            validation_result=rng.choice((1, 2, None)),
            known_pins=rng.choice((("a", "b"), ("a", "c"))),
            flags=flags,
            received_ms=base_ms - rng.randrange(days) * 86_400_000 + rng.randrange(290_000)))
    return out
