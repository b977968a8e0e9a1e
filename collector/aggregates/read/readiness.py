"""Hard-fail readiness of one host (SPEC §6): who loses service now, who would if pinning were
enforced today, per app.

Counted when reports arrive, on pairs that were public-trust then: ``failing`` (enforcing
clients: losing service now) and ``breaking`` (report-only clients: at risk), each as distinct
devices (HLL, all-time and per day) and reports per app (zset, and ``F``/``B`` fields of the
host's daily buckets). Distinct devices per app exist only all-time: under a window they are
shown when the window holds the host's whole history, else null.
"""

from __future__ import annotations

from typing import Any

from collector.aggregates.keys import HostKeys
from collector.aggregates.read.context import ReadContext
from collector.aggregates.read.pairs import OTHER, app_doc
from collector.aggregates.read.replies import pfcount, ranked
from collector.aggregates.read.spans import Span


def queue_all_time(pipe: Any, hk: HostKeys) -> None:
    """Queue the all-time figures; ``all_time`` takes the four replies."""
    pfcount(pipe, hk.failing)
    pipe.zrevrange(hk.failing_apps, 0, -1, withscores=True)
    pfcount(pipe, hk.breaking)
    pipe.zrevrange(hk.breaking_apps, 0, -1, withscores=True)


REPLIES = 4


class Readiness:
    """Host-level figures, then ``doc`` adds devices per app (one more round trip)."""

    def __init__(self, failing: int, at_risk: int, failing_apps: dict[str, int],
                 at_risk_apps: dict[str, int], per_app_devices: bool) -> None:
        self.failing = failing
        self.at_risk = at_risk
        self.failing_apps = failing_apps
        self.at_risk_apps = at_risk_apps
        self.per_app_devices = per_app_devices

    @classmethod
    def all_time(cls, replies: list[Any]) -> Readiness:
        failing, fapps, at_risk, bapps = replies
        return cls(failing, at_risk, dict(ranked(fapps)), dict(ranked(bapps)), True)

    @classmethod
    def windowed(cls, ctx: ReadContext, hk: HostKeys, host_span: Span, exact_apps: bool) \
            -> Readiness:
        """From the window's daily HLLs and ``F``/``B`` fields; ``exact_apps`` when the window
        holds the host's whole history (all-time per-app devices are then the window's)."""
        days = host_span.days
        failing = at_risk = 0
        if days:
            with ctx.client.pipeline(transaction=False) as pipe:
                pfcount(pipe, *[hk.failing_day(d) for d in days])
                pfcount(pipe, *[hk.breaking_day(d) for d in days])
                failing, at_risk = pipe.execute()
        return cls(failing, at_risk, host_span.pick("F"), host_span.pick("B"), exact_apps)

    def doc(self, ctx: ReadContext, hk: HostKeys) -> dict[str, Any]:
        keys = sorted(set(self.failing_apps) | set(self.at_risk_apps),
                      key=lambda k: (-self.failing_apps.get(k, 0), -self.at_risk_apps.get(k, 0),
                                     k == OTHER, k))
        versions: dict[str, list[str]] = {}
        for k in self.at_risk_apps:
            versions.setdefault(OTHER if k == OTHER else app_doc(k, 0)["app_version"] or "",
                                []).append(k)
        fdev: list[int | None] = [None] * len(keys)
        bdev: list[int | None] = [None] * len(keys)
        vdev: dict[str, int | None] = dict.fromkeys(versions)
        if self.per_app_devices and keys:
            with ctx.client.pipeline(transaction=False) as pipe:
                for k in keys:
                    pfcount(pipe, hk.failing_app(k) if k != OTHER else hk.failing)
                    pfcount(pipe, hk.breaking_app(k) if k != OTHER else hk.breaking)
                for v, apps in versions.items():
                    if v != OTHER:  # the overflow has no HLL of its own
                        pfcount(pipe, *[hk.breaking_app(k) for k in apps])
                found = pipe.execute()
            for i, k in enumerate(keys):
                if k != OTHER:  # the overflow has no HLL of its own
                    fdev[i] = found[2 * i] if self.failing_apps.get(k) else 0
                    bdev[i] = found[2 * i + 1] if self.at_risk_apps.get(k) else 0
            vdev.update(zip([v for v in versions if v != OTHER], found[2 * len(keys):],
                            strict=True))
        by_app = []
        for i, k in enumerate(keys):
            app = app_doc(k, 0)
            del app["reports"]
            by_app.append({**app,
                           "reports_failing_now": self.failing_apps.get(k, 0),
                           "devices_failing_now": fdev[i],
                           "reports_at_risk": self.at_risk_apps.get(k, 0),
                           "devices_at_risk": bdev[i]})
        version_reports = {v: sum(self.at_risk_apps[k] for k in apps)
                           for v, apps in versions.items()}
        by_version = [{"app_version": v, "reports": n, "devices": vdev[v]}
                      for v, n in sorted(version_reports.items(),
                                         key=lambda p: (-p[1], p[0] == OTHER, p[0]))]
        return {
            "devices_failing_now": self.failing,
            "devices_at_risk": self.at_risk,
            "reports_failing_now": sum(self.failing_apps.values()),
            "reports_at_risk": sum(self.at_risk_apps.values()),
            "by_app": by_app,
            "by_app_version": by_version,
        }
