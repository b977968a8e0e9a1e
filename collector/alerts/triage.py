"""Triage: analysts mark a (host, chain) pair, or every chain under one CA key (SPKI pin),
``open``, ``acknowledged`` or ``ignored``, with a note; who and when are recorded and every
change is appended to the audit list (newest first, the last ``AUDIT_MAX`` kept).

All keys share the ``{t}`` hash tag (``keys.TriageKeys``), so a change is one MULTI and
``is_ignored`` (called by the alert rules on the writer thread) one round trip on two sets.
Hostnames and fingerprints are validated by the caller; a pin is only ever a hash field, a set
member and, digested, part of a key name.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis

from collector.aggregates.keys import Keys
from collector.aggregates.read.replies import iso, text
from collector.aggregates.read.triage import IGNORED, NOTE_MAX, STATES, record_doc

AUDIT_MAX = 10_000


def _pair_member(hostname: str, fp: str) -> str:
    return f"{hostname}\t{fp}"


def is_ignored(client: redis.Redis, keys: Keys, hostname: str, fp: str,
               pins: Sequence[str]) -> bool:
    """Whether the pair, or an issuer of one of ``pins``, is ignored (one round trip)."""
    tk = keys.triage
    with client.pipeline(transaction=False) as pipe:
        pipe.sismember(tk.ignored, _pair_member(hostname, fp))
        if pins:
            pipe.smismember(tk.ignored_issuers, list(pins))
        found = pipe.execute()
    return bool(found[0]) or (bool(pins) and any(found[1]))


@dataclass(frozen=True)
class Change:
    """One triage change, as the audit list keeps it."""

    target: str
    """``pair`` or ``issuer``."""
    state: str
    note: str
    by: str
    at_ms: int
    hostname: str | None = None
    fingerprint: str | None = None
    pin: str | None = None

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise ValueError(f"state must be one of {', '.join(STATES)}")
        if len(self.note) > NOTE_MAX:
            raise ValueError(f"note is longer than {NOTE_MAX} characters")

    def audit_json(self) -> str:
        return json.dumps({"target": self.target, "hostname": self.hostname,
                           "fingerprint": self.fingerprint, "pin": self.pin,
                           "state": self.state, "note": self.note, "by": self.by,
                           "at": self.at_ms}, separators=(",", ":"), ensure_ascii=False)


def _now_ms() -> int:
    return int(time.time() * 1000)


def set_pair(client: redis.Redis, keys: Keys, hostname: str, fp: str, state: str, note: str,
             by: str, at_ms: int | None = None) -> dict[str, Any]:
    """Record the pair's state (one MULTI: record, ignored set, audit); returns its document."""
    change = Change("pair", state, note, by, at_ms or _now_ms(), hostname=hostname,
                    fingerprint=fp)
    tk = keys.triage
    _record(client, keys, change, tk.pair(hostname, fp), {"hostname": hostname, "fp": fp},
            tk.ignored, _pair_member(hostname, fp))
    return _doc(change, "pair")


def set_issuer(client: redis.Redis, keys: Keys, pin: str, state: str, note: str, by: str,
               at_ms: int | None = None) -> dict[str, Any]:
    """Record the issuer's state for every chain holding a certificate with this SPKI pin."""
    change = Change("issuer", state, note, by, at_ms or _now_ms(), pin=pin)
    tk = keys.triage
    _record(client, keys, change, tk.issuer(pin), {"pin": pin}, tk.ignored_issuers, pin)
    return _doc(change, "issuer")


def _record(client: redis.Redis, keys: Keys, change: Change, key: str, target: dict[str, str],
            ignored: str, member: str) -> None:
    """One MULTI: the target's record, its membership of the ignored set, the audit entry."""
    with client.pipeline(transaction=True) as pipe:
        fields: dict[str, str | int] = {"state": change.state, "note": change.note,
                                        "by": change.by, "at": change.at_ms, **target}
        pipe.hset(key, mapping=fields)  # type: ignore[arg-type]
        if change.state == IGNORED:
            pipe.sadd(ignored, member)
        else:
            pipe.srem(ignored, member)
        pipe.lpush(keys.triage.audit, change.audit_json())
        pipe.ltrim(keys.triage.audit, 0, AUDIT_MAX - 1)
        pipe.execute()


def _doc(change: Change, via: str) -> dict[str, Any]:
    return {"state": change.state, "note": change.note or None, "by": change.by,
            "at": iso(change.at_ms), "via": via, "pin": change.pin}


def get_pair(client: redis.Redis, keys: Keys, hostname: str, fp: str) -> dict[str, Any] | None:
    """The pair's own record (issuers aside), or None when never triaged."""
    return record_doc(client.hgetall(keys.triage.pair(hostname, fp)), "pair")


def get_issuer(client: redis.Redis, keys: Keys, pin: str) -> dict[str, Any] | None:
    return record_doc(client.hgetall(keys.triage.issuer(pin)), "issuer")


def audit_page(client: redis.Redis, keys: Keys, offset: int, limit: int) \
        -> tuple[list[dict[str, Any]], bool]:
    """Changes newest first from ``offset``, and whether more follow."""
    raw = client.lrange(keys.triage.audit, offset, offset + limit)
    items = []
    for entry in raw[:limit]:
        doc = json.loads(text(entry))
        doc["at"] = iso(doc.get("at"))
        doc["note"] = doc.get("note") or None
        items.append(doc)
    return items, len(raw) > limit
