"""Where records end up: Redis, or the dead-letter file for the ones Redis refuses for good.

Why one place: the live writer, the direct fallback and every replay write the same way, so
a poison record is parked once instead of blocking its batch (or a replay) forever, and the
counters the metrics publish agree whichever path wrote.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from collector.aggregates.writer import PoisonRecord, ReportStore, Stamped
from collector.durable.spool import Spool
from collector.intake.report import Report

# Records per Redis write, at most: the live writer's batch and a replay's. Redis's Lua
# unpacks at most ~8000 values into one command; a batch of new hosts that all rank in one
# global shard gives a ZADD twice its size (tests/durable/test_sink.py).
BATCH = 2000


@dataclass
class IngestStats:
    replayed: int = 0
    dead_lettered: int = 0
    refused: int = 0
    overflows: int = 0  # times the outbox was full and the writer caught up from disk
    batches: int = 0  # the live writer's batches Redis took, and their reports
    batched: int = 0
    redis_errors: dict[str, int] = field(default_factory=dict)


def head(report: Report) -> bytes:
    """A spool record without its stamp: encoded before the commit lock is taken, so the
    lock covers only the sequence number, the frame and the write."""
    return report.to_json()[:-1]


def stamp(head: bytes, writer: bytes, seq: int) -> bytes:
    """The record ``head`` with its writer id (JSON-encoded, ``writer_json``) and sequence."""
    return b"%s,\"writer\":%s,\"seq\":%d}" % (head, writer, seq)


def writer_json(writer: str) -> bytes:
    return json.dumps(writer).encode()


def encode(s: Stamped) -> bytes:
    """A spool record: the report with its writer id and sequence number."""
    return stamp(head(s.report), writer_json(s.writer), s.seq)


def decode(raw: bytes) -> Stamped:
    report, extra = Report.from_json(raw)
    return Stamped(report, str(extra["writer"]), int(extra["seq"]))


class RedisSink:
    """Writes stamped records to Redis in order; counts what it replays, parks and misses."""

    def __init__(self, store: ReportStore, spool: Spool, stats: IngestStats) -> None:
        self.store, self.spool, self.stats = store, spool, stats

    def write(self, stamped: list[Stamped]) -> None:
        """Write in order; records Redis refuses for good go to the dead-letter file."""
        while stamped:
            try:
                self.store.write(stamped)
                return
            except PoisonRecord as exc:
                for i in sorted(exc.indices, reverse=True):
                    self.spool.dead_letter(encode(stamped.pop(i)), str(exc))
                    self.stats.dead_lettered += 1

    def apply(self, records: list[bytes]) -> None:
        """Replay spool records (``Spool.drain``'s consumer); unreadable ones are parked."""
        stamped = []
        for raw in records:
            try:
                stamped.append(decode(raw))
            except (ValueError, KeyError, TypeError) as exc:  # unreadable: never retry it
                self.spool.dead_letter(raw, f"unreadable record: {type(exc).__name__}")
                self.stats.dead_lettered += 1
        for i in range(0, len(stamped), BATCH):
            self.write(stamped[i : i + BATCH])
        self.stats.replayed += len(stamped)

    def note_error(self, name: str) -> None:
        self.stats.redis_errors[name] = self.stats.redis_errors.get(name, 0) + 1
