"""The host page's "Pins in the field" panel (SPEC section 12): the pin sets each app build
(app id, version, platform) carries, from ``inventory_doc``, capped for a page.

Expiry is flagged against COLLECTOR_ALERT_PIN_EXPIRY_DAYS, the ``pins-expiring`` rule's own
threshold, so the page and the alert agree on what is "expiring". Every text here is fixed;
report-derived values (app ids, versions) only pass through Jinja's autoescape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from collector.web.dashboard.display import trustkit_snippet

MAX_BUILDS = 20
"""Builds listed, the most devices first; the rest are counted in one line."""
MAX_PIN_SETS = 4
"""Pin sets listed per build, the most devices first (a build usually has one)."""


@dataclass(frozen=True)
class Expiry:
    level: str
    """``bad`` (expired: no longer enforced), ``warn`` (within the alert's days), ``ok``,
    ``none`` (no expiration date: enforced for ever)."""
    text: str


def expiry(days: Any, warn_days: int) -> Expiry:
    if not isinstance(days, int):
        return Expiry("none", "no expiration date")
    if days < 0:
        return Expiry("bad", f"expired {-days} d ago: no longer enforced")
    if days == 0:
        return Expiry("warn", "expires today")
    if days <= warn_days:
        return Expiry("warn", f"expires in {days} d")
    return Expiry("ok", f"in {days} d")


@dataclass(frozen=True)
class PinSet:
    pins: list[str]
    expiration: str | None
    expiry: Expiry
    has_backup_pin: bool
    devices: int
    reports: int
    first_seen: str | None
    last_seen: str | None
    trustkit: str
    android_nsc: str


@dataclass(frozen=True)
class Build:
    app_id: str | None
    app_version: str | None
    platform: str | None
    devices: int
    reports: int
    first_seen: str | None
    last_seen: str | None
    pin_sets: list[PinSet]
    more_pin_sets: int


@dataclass(frozen=True)
class Panel:
    devices: int
    reports: int
    builds: list[Build]
    more_builds: int
    more_builds_reports: int
    capped_reports: int
    """Reports of builds past the per-host cap: counted, their pins not recorded."""
    expired: int
    expiring: int
    warn_days: int

    @property
    def versions(self) -> int:
        return len(self.builds) + self.more_builds


def _pin_set(ps: dict[str, Any], warn_days: int) -> PinSet:
    return PinSet(
        pins=list(ps.get("pins") or []), expiration=ps.get("expiration"),
        expiry=expiry(ps.get("days_to_expiry"), warn_days),
        has_backup_pin=bool(ps.get("has_backup_pin")),
        devices=int(ps.get("devices") or 0), reports=int(ps.get("reports") or 0),
        first_seen=ps.get("first_seen"), last_seen=ps.get("last_seen"),
        trustkit=trustkit_snippet(ps), android_nsc=str(ps.get("android_nsc") or ""))


def panel(doc: dict[str, Any] | None, warn_days: int) -> Panel | None:
    """The panel of ``inventory_doc``'s answer (None for a host never seen)."""
    if doc is None:
        return None
    versions = doc.get("versions") or []
    builds = []
    for v in versions[:MAX_BUILDS]:
        sets = v.get("pin_sets") or []
        builds.append(Build(
            app_id=v.get("app_id"), app_version=v.get("app_version"),
            platform=v.get("platform"), devices=int(v.get("devices") or 0),
            reports=int(v.get("reports") or 0), first_seen=v.get("first_seen"),
            last_seen=v.get("last_seen"),
            pin_sets=[_pin_set(ps, warn_days) for ps in sets[:MAX_PIN_SETS]],
            more_pin_sets=max(len(sets) - MAX_PIN_SETS, 0)))
    levels = [expiry(ps.get("days_to_expiry"), warn_days).level
              for v in versions for ps in v.get("pin_sets") or [] if ps.get("pins")]
    hidden = versions[MAX_BUILDS:]
    return Panel(
        devices=int(doc.get("devices") or 0), reports=int(doc.get("reports") or 0),
        builds=builds, more_builds=len(hidden),
        more_builds_reports=sum(int(v.get("reports") or 0) for v in hidden),
        capped_reports=int((doc.get("more") or {}).get("reports") or 0),
        expired=levels.count("bad"), expiring=levels.count("warn"), warn_days=warn_days)
