"""The field pin inventory of one host (SPEC section 12): which pin sets the app builds in the
field carry, on how many devices, first and last seen, and when each pin set expires.

Written by host.lua (keys ``HostKeys.inventory*``): per member ``[app id, version, platform,
[pins], expiration]``, all-time (last seen as the score of ``inv``, reports and first seen in
``inv:seen``, a device sketch) and per day (``n``/``f``/``l`` fields of ``inv:day:DAY`` and a
device sketch). Without since/until the all-time records are read, keeping the members seen
within the retention; with them the window's days (day resolution: a day counts whole when
its first..last of that member overlaps the window). Devices are ``read.sketch`` counts.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from collector.aggregates.keys import HostKeys
from collector.aggregates.read import sketch
from collector.aggregates.read.context import ReadContext
from collector.aggregates.read.replies import int_or_none, iso, pfcount, text
from collector.aggregates.read.windows import Window, stamp
from collector.intel.advice import pin_set_advice
from collector.intel.rehearsal import days_to_expiry, pin_set_forms


@dataclass(frozen=True)
class Deployed:
    """One pin set as one app build carries it, over the window."""

    app_id: str | None
    app_version: str | None
    platform: str | None
    pins: tuple[str, ...]
    expiration: str | None
    reports: int
    first_ms: int | None
    last_ms: int | None
    sketch: bytes
    """Its devices (``read.sketch``); merge several to count a union."""

    @property
    def build(self) -> tuple[str | None, str | None, str | None]:
        return self.app_id, self.app_version, self.platform


@dataclass(frozen=True)
class Inventory:
    hostname: str
    entries: list[Deployed]
    other_reports: int
    """Reports of builds past the per-host cap (counted, pins unknown)."""
    other_pin_sets: int
    """Distinct (build, pin set) members counted as other, all-time (approximate)."""


def parse_member(raw: str) -> tuple[str | None, str | None, str | None, tuple[str, ...],
                               str | None] | None:
    """A member's parts; None when it is not what host.lua writes."""
    try:
        doc = json.loads(raw)
    except ValueError:
        return None
    if not (isinstance(doc, list) and len(doc) == 5 and isinstance(doc[3], list)
            and all(isinstance(x, str) for x in (*doc[:3], *doc[3]))
            and (doc[4] is None or isinstance(doc[4], str))):
        return None
    return doc[0] or None, doc[1] or None, doc[2] or None, tuple(doc[3]), doc[4]


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def read_inventory(ctx: ReadContext, hostname: str, window: Window,
                   now: datetime | None = None) -> Inventory | None:
    """The host's deployed pin sets over ``window``; None for a host never seen."""
    hk = ctx.keys.host(hostname)
    now = now or datetime.now(UTC)
    if window.bounded:
        return _windowed(ctx, hk, hostname, window, now)
    floor = _ms(now) - ctx.retention_days * 86_400_000
    with ctx.client.pipeline(transaction=False) as pipe:
        pipe.hget(hk.meta, "hostname")
        pipe.zrangebyscore(hk.inventory, floor, "+inf", withscores=True)
        pipe.hgetall(hk.inventory_seen)
        pfcount(pipe, hk.inventory_other)
        name, members, seen_raw, other = pipe.execute()
    if name is None:
        return None
    seen = {text(k): text(v) for k, v in seen_raw.items()}
    parsed = [(m, parse_member(m), int(score)) for m, score in ((text(a), b) for a, b in members)]
    kept = [(m, parts, last) for m, parts, last in parsed if parts is not None]
    with ctx.client.pipeline(transaction=False) as pipe:
        for m, _, _ in kept:
            pipe.get(hk.inventory_devices(m))
        sketches = pipe.execute()
    entries = [Deployed(*parts, reports=int_or_none(seen.get("n" + m)) or 0,
                        first_ms=int_or_none(seen.get("f" + m)), last_ms=last,
                        sketch=sketch.merge([raw]))
               for (m, parts, last), raw in zip(kept, sketches, strict=True)]
    return Inventory(text(name), entries, int_or_none(seen.get("o")) or 0, int(other or 0))


def _windowed(ctx: ReadContext, hk: HostKeys, hostname: str, window: Window,
              now: datetime) -> Inventory | None:
    days = [stamp(d) for d in window.days(ctx.retention_days, now)]
    with ctx.client.pipeline(transaction=False) as pipe:
        pipe.hget(hk.meta, "hostname")
        pfcount(pipe, hk.inventory_other)
        for d in days:
            pipe.hgetall(hk.inventory_day(d))
        name, other, *rows = pipe.execute()
    if name is None:
        return None
    since = _ms(window.since) if window.since else None
    until = _ms(window.until) if window.until else None
    found: dict[str, dict[str, Any]] = {}
    other_reports = 0
    for d, raw in zip(days, rows, strict=True):
        row = {text(k): text(v) for k, v in raw.items()}
        other_reports += int_or_none(row.get("o")) or 0
        for field, value in row.items():
            if field[0] != "n" or len(field) < 2:
                continue
            m = field[1:]
            first, last = int_or_none(row.get("f" + m)), int_or_none(row.get("l" + m))
            if (since is not None and last is not None and last < since) or \
                    (until is not None and first is not None and first > until):
                continue  # that day's reports of this member all fall outside the window
            acc = found.setdefault(m, {"reports": 0, "first": None, "last": None, "days": []})
            acc["reports"] += int_or_none(value) or 0
            acc["days"].append(d)
            if first is not None:
                first = max(first, since) if since is not None else first
                acc["first"] = first if acc["first"] is None else min(acc["first"], first)
            if last is not None:
                last = min(last, until) if until is not None else last
                acc["last"] = last if acc["last"] is None else max(acc["last"], last)
    kept = [(m, parts) for m in found if (parts := parse_member(m)) is not None]
    with ctx.client.pipeline(transaction=False) as pipe:
        for m, _ in kept:
            for d in found[m]["days"]:
                pipe.get(hk.inventory_devices_day(m, d))
        replies = iter(pipe.execute())
    entries = []
    for m, parts in kept:
        acc = found[m]
        merged = sketch.merge(next(replies) for _ in acc["days"])
        entries.append(Deployed(*parts, reports=acc["reports"], first_ms=acc["first"],
                                last_ms=acc["last"], sketch=merged))
    return Inventory(text(name), entries, other_reports, int(other or 0))


def by_build(entries: Iterable[Deployed]) \
        -> dict[tuple[str | None, str | None, str | None], list[Deployed]]:
    """Entries grouped by (app id, version, platform), in first-seen order of the groups."""
    out: dict[tuple[str | None, str | None, str | None], list[Deployed]] = {}
    for e in entries:
        out.setdefault(e.build, []).append(e)
    return out


def span_of(entries: Sequence[Deployed]) -> tuple[int | None, int | None]:
    firsts = [e.first_ms for e in entries if e.first_ms is not None]
    lasts = [e.last_ms for e in entries if e.last_ms is not None]
    return (min(firsts) if firsts else None), (max(lasts) if lasts else None)


def pin_set_doc(e: Deployed, today: date) -> dict[str, Any]:
    """One deployed pin set: figures, expiry and the ready-to-paste forms."""
    days = days_to_expiry(e.expiration, today)
    return {
        "pins": list(e.pins),
        "expiration": e.expiration,
        "days_to_expiry": days,
        "expired": days is not None and days < 0,
        "has_backup_pin": pin_set_advice(e.pins, e.expiration, set(), today)["has_backup_pin"],
        "reports": e.reports,
        "devices": sketch.estimate(e.sketch),
        "first_seen": iso(e.first_ms),
        "last_seen": iso(e.last_ms),
        **pin_set_forms(e.pins, e.expiration),
    }


def inventory_doc(ctx: ReadContext, hostname: str, window: Window,
                  now: datetime | None = None) -> dict[str, Any] | None:
    """``GET /v1/hosts/<hostname>/inventory``: the builds seen in the window, most devices
    first, each with its pin sets; past the per-host cap, ``more`` counts the rest."""
    now = now or datetime.now(UTC)
    inv = read_inventory(ctx, hostname, window, now)
    if inv is None:
        return None
    today = now.date()
    versions: list[dict[str, Any]] = []
    for (app_id, version, platform), group in by_build(inv.entries).items():
        first, last = span_of(group)
        sets = sorted((pin_set_doc(e, today) for e in group),
                      key=lambda p: (-p["devices"], -p["reports"]))
        versions.append({
            "app_id": app_id, "app_version": version, "platform": platform,
            "devices": sketch.count(e.sketch for e in group),
            "reports": sum(e.reports for e in group),
            "first_seen": iso(first), "last_seen": iso(last),
            "pin_sets": sets,
        })
    versions.sort(key=lambda v: (-v["devices"], -v["reports"], str(v["app_id"]),
                                 str(v["app_version"]), str(v["platform"])))
    return {
        "hostname": inv.hostname,
        "devices": sketch.count(e.sketch for e in inv.entries),
        "reports": sum(e.reports for e in inv.entries),
        "versions": versions,
        "more": {"reports": inv.other_reports, "pin_sets_all_time": inv.other_pin_sets},
    }
