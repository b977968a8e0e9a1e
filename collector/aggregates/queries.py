"""Reads the aggregates back for the API and the CLI; never writes.

Without a window, views read the running aggregates (one pipeline, a handful of keys). A
``since``/``until`` window sums the daily buckets it covers: report counts at hour
resolution, breakdowns (chains, apps, results, pin sets) at day resolution. Lists and the
timeline live in ``listing``, certificates and pins in ``chainview``.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, date, datetime
from typing import Any

import redis

from collector.aggregates import chainview, listing
from collector.aggregates.keys import HostKeys, Keys
from collector.aggregates.readutil import Window, iso, pfcount, ranked, text
from collector.intel.advice import pin_set_advice
from collector.intel.classify import PUBLIC_TRUST

__all__ = ["Queries", "Window", "iso"]

_ENFORCE = ("enforced", "report_only", "unknown")


class Queries:
    """Every analyst view, each answered in one or two pipelined round trips."""

    def __init__(self, client: redis.Redis, keys: Keys, retention_days: int) -> None:
        self.client = client
        self.keys = keys
        self.retention_days = retention_days

    def window_days(self, window: Window) -> list[datetime]:
        return window.days(self.retention_days, datetime.now(UTC))

    def _daily(self, window: Window, key_of: Any) -> list[tuple[datetime, dict[str, int]]]:
        days = self.window_days(window)
        with self.client.pipeline(transaction=False) as pipe:
            for d in days:
                pipe.hgetall(key_of(d.strftime("%Y%m%d")))
            rows = pipe.execute()
        return [(d, {text(k): int(v) for k, v in row.items()})
                for d, row in zip(days, rows, strict=True)]

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
            pfcount(pipe, g.devices)
            pipe.zrevrange(g.hosts, 0, top - 1, withscores=True)
            pipe.zrevrange(g.chains, 0, top - 1, withscores=True)
            pipe.hgetall(g.classes)
            reports, hosts, chains, devices, top_hosts, top_chains, classes = pipe.execute()
        return self._summary_doc(int(reports or 0), hosts, chains, devices,
                                 list(ranked(top_hosts)), list(ranked(top_chains)),
                                 {text(k): int(v) for k, v in classes.items()})

    def _summary_window(self, window: Window, top: int) -> dict[str, Any]:
        g = self.keys.glob
        rows = self._daily(window, g.day)
        days = [d.strftime("%Y%m%d") for d, _ in rows]
        if not days:
            return self._summary_doc(0, 0, 0, 0, [], [], {})
        reports, fields = self._windowed(rows, window)
        with self.client.pipeline(transaction=False) as pipe:
            pipe.zunion([g.day_hosts(d) for d in days], withscores=True)
            pipe.zunion([g.day_chains(d) for d in days], withscores=True)
            pfcount(pipe, *[g.devices_day(d) for d in days])
            hosts, chains, devices = pipe.execute()
        rank = sorted(ranked(hosts), key=lambda p: (-p[1], p[0]))
        crank = sorted(ranked(chains), key=lambda p: (-p[1], p[0]))
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

    def chain_classes(self, fps: list[str]) -> dict[str, tuple[str, str | None, list[str]]]:
        """Classification, label and certificate hashes of each chain, in one pipeline."""
        if not fps:
            return {}
        g = self.keys.glob
        with self.client.pipeline(transaction=False) as pipe:
            for fp in fps:
                pipe.hmget(g.chain(fp), "classification", "label", "certs")
            rows = pipe.execute()
        out: dict[str, tuple[str, str | None, list[str]]] = {}
        for fp, (cls, label, certs) in zip(fps, rows, strict=True):
            out[fp] = (text(cls) if cls else "unknown", text(label) if label else None,
                       [c for c in text(certs or b"").split(",") if c])
        return out

    def hosts(self, window: Window, sort: str, offset: int, limit: int) \
            -> tuple[list[dict[str, Any]], bool]:
        return listing.hosts(self, window, sort, offset, limit)

    def chains(self, window: Window, offset: int, limit: int) \
            -> tuple[list[dict[str, Any]], bool]:
        return listing.chains(self, window, offset, limit)

    def timeline(self, hostname: str, interval: str, window: Window) -> dict[str, Any] | None:
        return listing.timeline(self, hostname, interval, window)

    def chain(self, fingerprint: str, window: Window) -> dict[str, Any] | None:
        return chainview.chain_detail(self, fingerprint, window)

    def _at_risk_versions(self, hk: HostKeys, ranked: list[tuple[str, int]]) \
            -> list[dict[str, Any]]:
        """Distinct at-risk devices per app version (``other`` has no HLL of its own)."""
        with self.client.pipeline(transaction=False) as pipe:
            for version, _ in ranked:
                pfcount(pipe, hk.breaking_version(version))
            devices = pipe.execute()
        return [{"app_version": v, "reports": n, "devices": None if v == "other" else d}
                for (v, n), d in zip(ranked, devices, strict=True)]

    def host(self, hostname: str, window: Window) -> dict[str, Any] | None:
        hk = self.keys.host(hostname)
        with self.client.pipeline(transaction=False) as pipe:
            pipe.hgetall(hk.meta)
            pfcount(pipe, hk.devices)
            pipe.zrevrange(hk.chains, 0, -1, withscores=True)
            pipe.zrevrange(hk.apps, 0, -1, withscores=True)
            pipe.hgetall(hk.results)
            pipe.hgetall(hk.enforce)
            pipe.zrevrange(hk.pinsets, 0, -1, withscores=True)
            pfcount(pipe, hk.breaking)
            pipe.zrevrange(hk.breaking_apps, 0, -1, withscores=True)
            meta, devices, chains, apps, results, enforce, pinsets, breaking, bapps = \
                pipe.execute()
        if not meta:
            return None
        meta = {text(k): text(v) for k, v in meta.items()}
        chain_counts = dict(ranked(chains))
        app_counts = dict(ranked(apps))
        result_counts = {text(k): int(v) for k, v in results.items()}
        enforce_counts = {text(k): int(v) for k, v in enforce.items()}
        pin_counts = dict(ranked(pinsets))
        reports = int(meta.get("reports", 0))
        if window.bounded:
            rows = self._daily(window, hk.day)
            reports, fields = self._windowed(rows, window)
            pick = {p: {k[1:]: v for k, v in fields.items() if k[0] == p} for p in "carep"}
            chain_counts, app_counts, pin_counts = pick["c"], pick["a"], pick["p"]
            result_counts, enforce_counts = pick["r"], pick["e"]
            days = [d.strftime("%Y%m%d") for d, _ in rows]
            devices = self.client.pfcount(*[hk.devices_day(d) for d in days]) if days else 0
        classes = self.chain_classes([fp for fp in chain_counts if fp != "other"])
        public = [c for cls, _, certs in classes.values() if cls == PUBLIC_TRUST for c in certs]
        info = chainview.cert_info(self, public) if public else {}
        public_pins = {pin for pin, _ in info.values()}
        today = datetime.now(UTC).date()
        return {
            "hostname": meta.get("hostname", hostname),
            "reports": reports,
            "devices": devices,
            "first_seen": iso(meta.get("first_seen")),
            "last_seen": iso(meta.get("last_seen")),
            "chains": [_chain(fp, n, classes.get(fp), info)
                       for fp, n in sorted(chain_counts.items(), key=lambda p: -p[1])],
            "apps": [_app(k, n) for k, n in sorted(app_counts.items(), key=lambda p: -p[1])],
            "validation_results": result_counts,
            "enforcement": {name: enforce_counts.get(name, 0) for name in _ENFORCE},
            "pin_sets": [_pinset(k, n, public_pins, today)
                         for k, n in sorted(pin_counts.items(), key=lambda p: -p[1])],
            "flags": {k.removeprefix("flag:"): int(v) for k, v in meta.items()
                      if k.startswith("flag:")},
            "hard_fail_readiness": {
                "devices_at_risk": breaking,
                "by_app_version": self._at_risk_versions(hk, list(ranked(bapps))),
            },
        }


def _chain(fp: str, reports: int, meta: tuple[str, str | None, list[str]] | None,
           info: dict[str, tuple[str, bool]]) -> dict[str, Any]:
    cls, label, certs = meta or ("unknown", None, [])
    return {"fingerprint": fp, "reports": reports, "classification": cls, "label": label,
            "pins_that_would_pass": chainview.would_pass(certs, info)
            if cls == PUBLIC_TRUST else []}


def _app(key: str, reports: int) -> dict[str, Any]:
    if key == "other":
        return {"app_id": "other", "app_version": None, "platform": None, "reports": reports}
    app_id, version, platform = json.loads(key)
    return {"app_id": app_id or None, "app_version": version or None,
            "platform": platform or None, "reports": reports}


def _pinset(key: str, reports: int, public_pins: set[str], today: date) -> dict[str, Any]:
    """A pin set as clients reported it, with the advice of SPEC section 6."""
    if key == "other":  # the overflow bucket: many sets, no advice possible
        return {"pins": [], "expiration": None, "reports": reports, "other": True,
                "has_backup_pin": None, "matches_public_trust_key": None,
                "matching_pins": [], "days_to_expiry": None}
    pins, expiration = json.loads(key)
    advice = pin_set_advice(pins, expiration, public_pins, today)
    return {"pins": pins, "expiration": expiration, "reports": reports, "other": False,
            "has_backup_pin": advice["has_backup_pin"],
            "matches_public_trust_key": advice["matches_public_trust_key"],
            "matching_pins": advice["matching_pins"],
            "days_to_expiry": advice["days_to_expiry"]}
