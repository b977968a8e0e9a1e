"""Reads the aggregates back for the API and the CLI; never writes.

Without a window, views read the running aggregates (one pipeline, a handful of keys). A
``since``/``until`` window sums the daily buckets it covers: report counts at hour
resolution, breakdowns (chains, apps, results, pin sets) at day resolution.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import redis

from collector.keys import Keys

_ENFORCE = ("enforced", "report_only", "unknown")


@dataclass(frozen=True)
class Window:
    since: datetime | None = None
    until: datetime | None = None

    @property
    def bounded(self) -> bool:
        return self.since is not None or self.until is not None

    def days(self, retention_days: int, now: datetime) -> list[datetime]:
        until = min(self.until or now, now)
        since = max(self.since or until - timedelta(days=retention_days),
                    now - timedelta(days=retention_days))
        day = since.replace(hour=0, minute=0, second=0, microsecond=0)
        out = []
        while day <= until and len(out) <= retention_days + 1:
            out.append(day)
            day += timedelta(days=1)
        return out

    def hour_in(self, day: datetime, hour: int) -> bool:
        start = day + timedelta(hours=hour)
        end = start + timedelta(hours=1)
        return (self.since is None or end > self.since) and \
            (self.until is None or start <= self.until)


def iso(ms: Any) -> str | None:
    if ms in (None, b"", ""):
        return None
    when = datetime.fromtimestamp(int(ms) / 1000, UTC).replace(microsecond=0)
    return when.isoformat().replace("+00:00", "Z")


def _s(value: bytes | str) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else value


def _ranked(pairs: list[tuple[bytes, float]]) -> Iterator[tuple[str, int]]:
    for member, score in pairs:
        yield _s(member), int(score)


class Queries:
    def __init__(self, client: redis.Redis, keys: Keys, retention_days: int) -> None:
        self.client = client
        self.keys = keys
        self.retention_days = retention_days

    def _daily(self, window: Window, key_of: Any) -> list[tuple[datetime, dict[str, int]]]:
        days = window.days(self.retention_days, datetime.now(UTC))
        with self.client.pipeline(transaction=False) as pipe:
            for d in days:
                pipe.hgetall(key_of(d.strftime("%Y%m%d")))
            rows = pipe.execute()
        return [(d, {_s(k): int(v) for k, v in row.items()}) for d, row in zip(days, rows, strict=True)]

    @staticmethod
    def _windowed(rows: list[tuple[datetime, dict[str, int]]], window: Window) \
            -> tuple[int, Counter[str]]:
        """Reports in the window (hour resolution) and the summed breakdown fields."""
        total, fields = 0, Counter[str]()
        for day, row in rows:
            total += sum(v for k, v in row.items()
                         if k[0] == "h" and k[1:].isdigit() and window.hour_in(day, int(k[1:])))
            fields.update({k: v for k, v in row.items() if k[0] != "h" and k != "n"})
        return total, fields

    def summary(self, window: Window, top: int = 10) -> dict[str, Any]:
        g = self.keys.glob
        if window.bounded:
            return self._summary_window(window, top)
        with self.client.pipeline(transaction=False) as pipe:
            pipe.hget(g.totals, "reports")
            pipe.zcard(g.hosts)
            pipe.zcard(g.chains)
            pipe.pfcount(g.devices)
            pipe.zrevrange(g.hosts, 0, top - 1, withscores=True)
            pipe.zrevrange(g.chains, 0, top - 1, withscores=True)
            pipe.hgetall(g.classes)
            reports, hosts, chains, devices, top_hosts, top_chains, classes = pipe.execute()
        return self._summary_doc(int(reports or 0), hosts, chains, devices,
                                 list(_ranked(top_hosts)), list(_ranked(top_chains)),
                                 {_s(k): int(v) for k, v in classes.items()})

    def _summary_window(self, window: Window, top: int) -> dict[str, Any]:
        g = self.keys.glob
        rows = self._daily(window, g.day)
        days = [d.strftime("%Y%m%d") for d, _ in rows]
        reports, fields = self._windowed(rows, window)
        hosts_keys = [g.day_hosts(d) for d in days]
        chain_keys = [g.day_chains(d) for d in days]
        with self.client.pipeline(transaction=False) as pipe:
            pipe.zunion(hosts_keys, withscores=True)
            pipe.zunion(chain_keys, withscores=True)
            pipe.pfcount(*[g.devices_day(d) for d in days])
            hosts, chains, devices = pipe.execute()
        rank = sorted(_ranked(hosts), key=lambda p: (-p[1], p[0]))
        crank = sorted(_ranked(chains), key=lambda p: (-p[1], p[0]))
        classes = {k[1:]: v for k, v in fields.items() if k[0] == "k"}
        return self._summary_doc(reports, len(rank), len(crank), devices, rank[:top],
                                 crank[:top], classes)

    def _summary_doc(self, reports: int, hosts: int, chains: int, devices: int,
                     top_hosts: list[tuple[str, int]], top_chains: list[tuple[str, int]],
                     classes: dict[str, int]) -> dict[str, Any]:
        meta = self.chain_classes([fp for fp, _ in top_chains])
        return {
            "reports": reports, "hosts": hosts, "chains": chains, "devices": devices,
            "top_hosts": [{"hostname": h, "reports": n} for h, n in top_hosts],
            "top_chains": [{"fingerprint": fp, "reports": n,
                            "classification": meta[fp][0], "label": meta[fp][1]}
                           for fp, n in top_chains],
            "by_classification": classes,
        }

    def chain_classes(self, fps: list[str]) -> dict[str, tuple[str, str | None]]:
        if not fps:
            return {}
        g = self.keys.glob
        with self.client.pipeline(transaction=False) as pipe:
            for fp in fps:
                pipe.hmget(g.chain(fp), "classification", "label")
            rows = pipe.execute()
        out: dict[str, tuple[str, str | None]] = {}
        for fp, (cls, label) in zip(fps, rows, strict=True):
            out[fp] = (_s(cls) if cls else "unknown", _s(label) if label else None)
        return out

    def host(self, hostname: str, window: Window) -> dict[str, Any] | None:
        hk = self.keys.host(hostname)
        with self.client.pipeline(transaction=False) as pipe:
            pipe.hgetall(hk.meta)
            pipe.pfcount(hk.devices)
            pipe.zrevrange(hk.chains, 0, -1, withscores=True)
            pipe.zrevrange(hk.apps, 0, -1, withscores=True)
            pipe.hgetall(hk.results)
            pipe.hgetall(hk.enforce)
            pipe.zrevrange(hk.pinsets, 0, -1, withscores=True)
            pipe.pfcount(hk.breaking)
            pipe.zrevrange(hk.breaking_apps, 0, -1, withscores=True)
            meta, devices, chains, apps, results, enforce, pinsets, breaking, bapps = \
                pipe.execute()
        if not meta:
            return None
        meta = {_s(k): _s(v) for k, v in meta.items()}
        chain_counts = dict(_ranked(chains))
        app_counts = dict(_ranked(apps))
        result_counts = {_s(k): int(v) for k, v in results.items()}
        enforce_counts = {_s(k): int(v) for k, v in enforce.items()}
        pin_counts = dict(_ranked(pinsets))
        reports = int(meta.get("reports", 0))
        if window.bounded:
            rows = self._daily(window, hk.day)
            reports, fields = self._windowed(rows, window)
            pick = {p: {k[1:]: v for k, v in fields.items() if k[0] == p} for p in "carep"}
            chain_counts, app_counts, pin_counts = pick["c"], pick["a"], pick["p"]
            result_counts, enforce_counts = pick["r"], pick["e"]
            days = [d.strftime("%Y%m%d") for d, _ in rows]
            devices = self.client.pfcount(*[hk.devices_day(d) for d in days])
        classes = self.chain_classes([fp for fp in chain_counts if fp != "other"])
        return {
            "hostname": meta.get("hostname", hostname),
            "reports": reports,
            "devices": devices,
            "first_seen": iso(meta.get("first_seen")),
            "last_seen": iso(meta.get("last_seen")),
            "chains": [{"fingerprint": fp, "reports": n,
                        "classification": classes.get(fp, ("unknown", None))[0],
                        "label": classes.get(fp, ("unknown", None))[1]}
                       for fp, n in sorted(chain_counts.items(), key=lambda p: -p[1])],
            "apps": [_app(k, n) for k, n in sorted(app_counts.items(), key=lambda p: -p[1])],
            "validation_results": result_counts,
            "enforcement": {name: enforce_counts.get(name, 0) for name in _ENFORCE},
            "pin_sets": [_pinset(k, n) for k, n in sorted(pin_counts.items(), key=lambda p: -p[1])],
            "hard_fail_readiness": {
                "devices_at_risk": breaking,
                "by_app_version": [{"app_version": v, "reports": n} for v, n in _ranked(bapps)],
            },
        }


def _app(key: str, reports: int) -> dict[str, Any]:
    if key == "other":
        return {"app_id": "other", "app_version": None, "platform": None, "reports": reports}
    app_id, version, platform = json.loads(key)
    return {"app_id": app_id or None, "app_version": version or None,
            "platform": platform or None, "reports": reports}


def _pinset(key: str, reports: int) -> dict[str, Any]:
    if key == "other":
        return {"pins": [], "expiration": None, "reports": reports, "other": True}
    pins, expiration = json.loads(key)
    return {"pins": pins, "expiration": expiration, "reports": reports}
