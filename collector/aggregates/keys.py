"""Every Redis key the collector reads or writes is built here; this docstring is the key table.

P is the key prefix (COLLECTOR_KEY_PREFIX, default ``pc``). HID is the first 16 hex digits of
SHA-256 of the normalised hostname, FP a chain fingerprint (64 hex), CERT a certificate's
SHA-256 (64 hex), DAY a UTC date ``YYYYMMDD``. R is the retention (COLLECTOR_RETENTION_DAYS).

Per host: hash tag ``{h:HID}``, one cluster slot, written by one script per batch.
"R after" means the TTL is reset to R on every write. APPKEY is the JSON text
``[app id, version, platform]`` (the ``apps`` members); AID the first 16 hex digits of SHA-256
of an APPKEY. "public-trust" below is the PAIR's class, i.e. for this host.

| key                           | type | content                                     | expires     |
|-------------------------------|------|---------------------------------------------|-------------|
| P:{h:HID}:meta                | hash | hostname, reports, first/last seen, flag:*, | R after     |
|                               |      | test_reports                                |             |
| P:{h:HID}:devices             | HLL  | keyed device hashes                         | R after     |
| P:{h:HID}:chains              | zset | FP -> reports (capped, overflow as other;   | R after     |
|                               |      | protected pairs never folded, see below)    |             |
| P:{h:HID}:apps                | zset | APPKEY -> reports (capped)                  | R after     |
| P:{h:HID}:results             | hash | validation-result code (or none) -> reports | R after     |
| P:{h:HID}:enforce             | hash | enforced / report_only / unknown -> reports | R after     |
| P:{h:HID}:pinsets             | zset | [sorted pins, expiration] -> reports        | R after     |
|                               |      | (capped)                                    |             |
| P:{h:HID}:breaking            | HLL  | report-only devices failing on public-trust | R after     |
| P:{h:HID}:breaking:apps       | zset | APPKEY -> such reports (capped)             | R after     |
| P:{h:HID}:breaking:a:AID      | HLL  | those devices of one APPKEY                 | R after     |
| P:{h:HID}:breaking:DAY        | HLL  | those devices seen on DAY                   | DAY end + R |
| P:{h:HID}:failing             | HLL  | enforcing devices failing on public-trust   | R after     |
|                               |      | (losing service now)                        |             |
| P:{h:HID}:failing:apps        | zset | APPKEY -> such reports (capped)             | R after     |
| P:{h:HID}:failing:a:AID       | HLL  | those devices of one APPKEY                 | R after     |
| P:{h:HID}:failing:DAY         | HLL  | those devices seen on DAY                   | DAY end + R |
| P:{h:HID}:other:chains        | HLL  | FPs folded into or evicted to other         | R after     |
| P:{h:HID}:day:DAY             | hash | n, hHH (hour) and c/a/r/e/p-prefixed        | DAY end + R |
|                               |      | breakdowns, F<APPKEY> failing and B<APPKEY> |             |
|                               |      | at-risk reports, x<flag> counts, first/last |             |
|                               |      | (ms), test_reports                          |             |
| P:{h:HID}:devices:DAY         | HLL  | keyed device hashes seen on DAY             | DAY end + R |
| P:{h:HID}:pair:FP             | hash | reports, first_seen, last_seen (ms),        | R after     |
|                               |      | enforced/report_only/unknown, class, label, |             |
|                               |      | cv, failing, at_risk                        |             |
| P:{h:HID}:pair:FP:devices     | HLL  | devices of the (host, chain) pair           | R after     |
| P:{h:HID}:pair:FP:apps        | zset | APPKEY -> reports (capped)                  | R after     |
| P:{h:HID}:pair:FP:day:DAY     | hash | n, hHH, e<enforcement>, a<APPKEY>,          | DAY end + R |
|                               |      | first/last (ms)                             |             |
| P:{h:HID}:pair:FP:devices:DAY | HLL  | devices of the pair on DAY                  | DAY end + R |
| P:{h:HID}:applied             | hash | writer id -> highest sequence applied       | R after     |
| P:{h:HID}:events              | list | alert events decided by the host script,    | R after     |
|                               |      | "kind TAB FP TAB class TAB label", until    |             |
|                               |      | the alerter has enqueued them (last 1000)   |             |
| P:{h:HID}:m5:N                | str  | reports received in 5-minute bucket N (unix | bucket end  |
|                               |      | s / 300), for the spike rule                | + 30 min    |

Events (``events``): when a pair key is created (kind ``new-pair``) or a public-trust pair's
``failing`` goes from 0 to more (``first-failing``), the host script that decided it pushes
the event; the writer hands it to the alerter and removes it (LREM) once enqueued, so a lost
reply or a crash between the two only delays it (the cooldown key dedupes the retry).
``m5:N`` keys are derived by the host script from ``pair_prefix`` as ``minutes5`` builds them.

Pair keys exist only for chains holding their own member of ``chains``. A pair is protected
when its class is public-trust or its ``failing`` > 0; a new protected chain past the cap
evicts the least-reported unprotected one (its score moves to ``other``, its pair keys are
deleted: the host script derives them from ``pair_prefix`` exactly as the pair methods do).
``failing``/``at_risk`` count reports from enforcing / report-only clients while the pair is
public-trust. ``class``/``label``/``cv`` are overwritten on every write (cv: the
Classifier.version that decided them, empty for records spooled before versions existed).
Reports flagged ``test-report`` count only as ``test_reports`` (host meta and day hash,
global totals and day hash), nowhere else.

Global: hash tag ``{g}``, one slot, written by one script per batch.

| key                      | type   | content                                       | expires     |
|--------------------------|--------|-----------------------------------------------|-------------|
| P:{g}:totals             | hash   | reports, test_reports                         | none        |
| P:{g}:hosts              | zset   | hostname -> reports                           | R after     |
| P:{g}:hosts:last         | zset   | hostname -> last seen (ms)                    | R after     |
| P:{g}:hosts:failing      | zset   | hostname -> reports from enforcing clients on | R after     |
|                          |        | public-trust pairs                            |             |
| P:{g}:hosts:breaking     | zset   | hostname -> reports from report-only clients  | R after     |
|                          |        | on public-trust pairs                         |             |
| P:{g}:chains             | zset   | FP -> reports                                 | R after     |
| P:{g}:chains:last        | zset   | FP -> last seen (ms)                          | R after     |
| P:{g}:classes            | hash   | pair classification -> reports                | R after     |
| P:{g}:devices            | HLL    | keyed device hashes                           | R after     |
| P:{g}:day:DAY            | hash   | n, hHH, k-prefixed pair class counts,         | DAY end + R |
|                          |        | test_reports                                  |             |
| P:{g}:day:DAY:hosts      | zset   | hostname -> reports on DAY                    | DAY end + R |
| P:{g}:day:DAY:chains     | zset   | FP -> reports on DAY                          | DAY end + R |
| P:{g}:day:DAY:failing    | zset   | hostname -> hosts:failing reports on DAY      | DAY end + R |
| P:{g}:day:DAY:breaking   | zset   | hostname -> hosts:breaking reports on DAY     | DAY end + R |
| P:{g}:devices:DAY        | HLL    | keyed device hashes seen on DAY               | DAY end + R |
| P:{g}:chain:FP           | hash   | reports, first/last seen, port, certs (comma- | R after     |
|                          |        | separated CERT), and the chain's own          |             |
|                          |        | classification, label, cv (overwritten)       |             |
| P:{g}:chain:FP:hosts     | zset   | hostname -> reports (capped)                  | R after     |
| P:{g}:chain:FP:hosts:DAY | zset   | hostname -> reports on DAY (capped)           | DAY end + R |
| P:{g}:chain:FP:day:DAY   | hash   | n, hHH, first/last (ms): the chain on all     | DAY end + R |
|                          |        | hosts                                         |             |
| P:{g}:cert:CERT          | string | the certificate's DER                         | R after     |
| P:{g}:applied            | hash   | writer id -> highest sequence applied         | R after     |
| P:{g}:retired            | zset   | dead writer id -> when retired (ms): its      | R + 1 day   |
|                          |        | marks are dropped from every applied hash     | after       |

Retention (``retention``, from the writer loop, a bounded number of members per call): a
host whose ``hosts:last`` or a chain whose ``chains:last`` is older than R leaves ``hosts``,
``hosts:last``, ``hosts:failing``, ``hosts:breaking`` / ``chains``, ``chains:last``, and a
host no longer in ``hosts:last`` leaves every ``chain:FP:hosts``. A ``retired`` member is
forgotten R + 1 day after it was retired, when no host's ``applied`` hash can still hold it.

Alerts: hash tag ``{a}``, one slot. DIGEST is the first 32 hex digits of SHA-256 of
``rule TAB hostname TAB FP`` (FP empty for ``spike``).

| key                      | type   | content                                       | expires     |
|--------------------------|--------|-----------------------------------------------|-------------|
| P:{a}:outbox             | stream | one entry per (alert, destination): id, dest  | trimmed by  |
|                          |        | (``webhook:N``/``slack:N``), alert (JSON);    | the         |
|                          |        | consumer group ``deliver``                    | deliverer   |
| P:{a}:log                | stream | one entry per alert fired: alert (JSON)       | MAXLEN ~    |
|                          |        |                                               | 10000       |
| P:{a}:cooldown:DIGEST    | string | alert id: one alert per (rule, host, chain)   | cooldown    |
|                          |        | per COLLECTOR_ALERT_COOLDOWN_SECONDS          |             |
| P:{a}:lease:spike        | string | the writer evaluating the spike rule          | lease (ms)  |

Triage (analysts' marks on pairs and issuers): hash tag ``{t}``, one slot, written in one
MULTI per change. PIN is the first 32 hex digits of SHA-256 of an SPKI pin string (RFC 7469
base64); ``at`` is ms; pair/issuer records are kept until changed (never expire).

| key                      | type   | content                                       | expires     |
|--------------------------|--------|-----------------------------------------------|-------------|
| P:{t}:pair:HID:FP        | hash   | state (open/acknowledged/ignored), note, by,  | none        |
|                          |        | at, hostname, fp                              |             |
| P:{t}:issuer:PIN         | hash   | state, note, by, at, pin                      | none        |
| P:{t}:audit              | list   | every change as JSON {target, hostname,       | none (last  |
|                          |        | fingerprint, pin, state, note, by, at}, new   | 10000 kept) |
|                          |        | first                                         |             |
| P:{t}:ignored            | set    | hostname TAB FP of ignored pairs              | none        |
| P:{t}:ignored:issuers    | set    | SPKI pins of ignored issuers                  | none        |

Hostnames and fingerprints appear in key names only after validation (HID is a digest;
FP and CERT are hex computed by the collector). Report text is only ever a hash field or a
sorted-set member. Nothing on a request path enumerates keys.
"""

from __future__ import annotations

import dataclasses
import hashlib


def host_id(hostname: str) -> str:
    return hashlib.sha256(hostname.encode("ascii")).hexdigest()[:16]


def app_digest(app_key: str) -> str:
    """AID: names an APPKEY in a key without using its text."""
    return hashlib.sha256(app_key.encode("utf-8")).hexdigest()[:16]


@dataclasses.dataclass(frozen=True)
class HostKeys:
    """The keys of one host, in the order the host script receives them."""

    meta: str
    devices: str
    chains: str
    apps: str
    results: str
    enforce: str
    pinsets: str
    breaking: str
    breaking_apps: str
    applied: str
    failing: str
    failing_apps: str
    other_chains: str

    @property
    def base(self) -> str:
        return self.meta.removesuffix(":meta")

    def day(self, day: str) -> str:
        return f"{self.base}:day:{day}"

    def devices_day(self, day: str) -> str:
        return f"{self.devices}:{day}"

    def breaking_app(self, app_key: str) -> str:
        """At-risk devices of one APPKEY (hashed, never used as text)."""
        return f"{self.breaking}:a:{app_digest(app_key)}"

    def failing_app(self, app_key: str) -> str:
        """Devices failing now of one APPKEY (hashed, never used as text)."""
        return f"{self.failing}:a:{app_digest(app_key)}"

    def breaking_day(self, day: str) -> str:
        return f"{self.breaking}:{day}"

    def failing_day(self, day: str) -> str:
        return f"{self.failing}:{day}"

    @property
    def pair_prefix(self) -> str:
        """Every pair key is this plus FP plus a suffix (host.lua relies on it to evict)."""
        return f"{self.base}:pair:"

    def pair(self, fp: str) -> str:
        return f"{self.pair_prefix}{fp}"

    def pair_devices(self, fp: str) -> str:
        return f"{self.pair_prefix}{fp}:devices"

    def pair_apps(self, fp: str) -> str:
        return f"{self.pair_prefix}{fp}:apps"

    def pair_day(self, fp: str, day: str) -> str:
        return f"{self.pair_prefix}{fp}:day:{day}"

    def pair_devices_day(self, fp: str, day: str) -> str:
        return f"{self.pair_prefix}{fp}:devices:{day}"

    @property
    def events(self) -> str:
        """Alert events the host script decided, until the alerter has enqueued them."""
        return f"{self.base}:events"

    def minutes5(self, bucket: int) -> str:
        """Reports in 5-minute bucket ``bucket`` (host.lua derives it from pair_prefix)."""
        return f"{self.base}:m5:{bucket}"

    def fixed(self) -> list[str]:
        """KEYS[1..14] of lua/host.lua, in its order."""
        return [self.meta, self.devices, self.chains, self.apps, self.results, self.enforce,
                self.pinsets, self.breaking, self.breaking_apps, self.applied, self.failing,
                self.failing_apps, self.other_chains, self.events]


@dataclasses.dataclass(frozen=True)
class GlobalKeys:
    """The global keys, in the order the global script receives them."""

    totals: str
    hosts: str
    hosts_last: str
    chains: str
    classes: str
    devices: str
    applied: str
    base: str
    hosts_failing: str
    chains_last: str
    hosts_breaking: str

    def day(self, day: str) -> str:
        return f"{self.base}:day:{day}"

    def day_hosts(self, day: str) -> str:
        return f"{self.base}:day:{day}:hosts"

    def day_chains(self, day: str) -> str:
        return f"{self.base}:day:{day}:chains"

    def day_failing(self, day: str) -> str:
        return f"{self.base}:day:{day}:failing"

    def day_breaking(self, day: str) -> str:
        return f"{self.base}:day:{day}:breaking"

    def devices_day(self, day: str) -> str:
        return f"{self.devices}:{day}"

    def chain(self, fp: str) -> str:
        return f"{self.base}:chain:{fp}"

    def chain_hosts(self, fp: str) -> str:
        return f"{self.base}:chain:{fp}:hosts"

    def chain_hosts_day(self, fp: str, day: str) -> str:
        return f"{self.base}:chain:{fp}:hosts:{day}"

    def chain_day(self, fp: str, day: str) -> str:
        return f"{self.base}:chain:{fp}:day:{day}"

    def cert(self, cert_sha256: str) -> str:
        return f"{self.base}:cert:{cert_sha256}"

    def retired(self) -> str:
        """Writers retired by ``retention`` (each member is forgotten R + 1 day later)."""
        return f"{self.base}:retired"

    def fixed(self) -> list[str]:
        return [self.totals, self.hosts, self.hosts_last, self.chains, self.classes,
                self.devices, self.applied, self.hosts_failing, self.chains_last,
                self.hosts_breaking]


def pin_digest(pin: str) -> str:
    """PIN: names an SPKI pin in a key without using its text."""
    return hashlib.sha256(pin.encode("utf-8")).hexdigest()[:32]


@dataclasses.dataclass(frozen=True)
class TriageKeys:
    """Triage state of pairs and issuers, all under ``{t}`` (one slot)."""

    base: str

    def pair(self, hostname: str, fp: str) -> str:
        return f"{self.base}:pair:{host_id(hostname)}:{fp}"

    def issuer(self, pin: str) -> str:
        return f"{self.base}:issuer:{pin_digest(pin)}"

    @property
    def audit(self) -> str:
        return f"{self.base}:audit"

    @property
    def ignored(self) -> str:
        """Members: hostname, a tab, FP."""
        return f"{self.base}:ignored"

    @property
    def ignored_issuers(self) -> str:
        return f"{self.base}:ignored:issuers"


def alert_digest(rule: str, hostname: str, fp: str | None) -> str:
    """DIGEST: names a (rule, host, chain) in a key without using its text."""
    text = f"{rule}\t{hostname}\t{fp or ''}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


@dataclasses.dataclass(frozen=True)
class AlertKeys:
    """Alerts fired and their delivery outbox, all under ``{a}`` (one slot)."""

    base: str

    @property
    def outbox(self) -> str:
        return f"{self.base}:outbox"

    @property
    def log(self) -> str:
        return f"{self.base}:log"

    def cooldown(self, rule: str, hostname: str, fp: str | None) -> str:
        return f"{self.base}:cooldown:{alert_digest(rule, hostname, fp)}"

    @property
    def spike_lease(self) -> str:
        return f"{self.base}:lease:spike"


@dataclasses.dataclass(frozen=True)
class Keys:
    """Builds every key from the prefix; the only place key strings are made."""

    prefix: str = "pc"

    def host(self, hostname: str) -> HostKeys:
        base = f"{self.prefix}:{{h:{host_id(hostname)}}}"
        return HostKeys(
            meta=f"{base}:meta", devices=f"{base}:devices", chains=f"{base}:chains",
            apps=f"{base}:apps", results=f"{base}:results", enforce=f"{base}:enforce",
            pinsets=f"{base}:pinsets", breaking=f"{base}:breaking",
            breaking_apps=f"{base}:breaking:apps", applied=f"{base}:applied",
            failing=f"{base}:failing", failing_apps=f"{base}:failing:apps",
            other_chains=f"{base}:other:chains",
        )

    @property
    def glob(self) -> GlobalKeys:
        base = f"{self.prefix}:{{g}}"
        return GlobalKeys(
            totals=f"{base}:totals", hosts=f"{base}:hosts", hosts_last=f"{base}:hosts:last",
            chains=f"{base}:chains", classes=f"{base}:classes", devices=f"{base}:devices",
            applied=f"{base}:applied", base=base, hosts_failing=f"{base}:hosts:failing",
            chains_last=f"{base}:chains:last", hosts_breaking=f"{base}:hosts:breaking",
        )

    @property
    def alerts(self) -> AlertKeys:
        return AlertKeys(f"{self.prefix}:{{a}}")

    @property
    def triage(self) -> TriageKeys:
        return TriageKeys(f"{self.prefix}:{{t}}")

    def pattern(self) -> str:
        """SCAN pattern for tests and admin tools only; never used on a request path."""
        return f"{self.prefix}:*"
