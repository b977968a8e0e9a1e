"""Every Redis key the collector reads or writes is built here; this docstring is the key table.

P is the key prefix (COLLECTOR_KEY_PREFIX, default ``pc``). HID is the first 16 hex digits of
SHA-256 of the normalised hostname, FP a chain fingerprint (64 hex), CERT a certificate's
SHA-256 (64 hex), DAY a UTC date ``YYYYMMDD``. R is the retention (COLLECTOR_RETENTION_DAYS).

Per host: hash tag ``{h:HID}``, one cluster slot, written by one script per batch.
"R after" means the TTL is reset to R on every write.

| key                      | type | content                                         | expires     |
|--------------------------|------|-------------------------------------------------|-------------|
| P:{h:HID}:meta           | hash | hostname, reports, first/last seen, flag:*      | R after     |
| P:{h:HID}:devices        | HLL  | keyed device hashes                             | R after     |
| P:{h:HID}:chains         | zset | FP -> reports (capped, overflow as other)       | R after     |
| P:{h:HID}:apps           | zset | [app id, version, platform] -> reports (capped) | R after     |
| P:{h:HID}:results        | hash | validation-result code (or none) -> reports     | R after     |
| P:{h:HID}:enforce        | hash | enforced / report_only / unknown -> reports     | R after     |
| P:{h:HID}:pinsets        | zset | [sorted pins, expiration] -> reports (capped)   | R after     |
| P:{h:HID}:breaking       | HLL  | report-only devices failing on public-trust     | R after     |
| P:{h:HID}:breaking:apps  | zset | app version -> such failures (capped)           | R after     |
| P:{h:HID}:breaking:v:VID | HLL  | at-risk devices of one app version (VID hash)   | R after     |
| P:{h:HID}:day:DAY        | hash | n, hHH (hour) and c/a/r/e/p-prefixed breakdowns | DAY end + R |
| P:{h:HID}:devices:DAY    | HLL  | keyed device hashes seen on DAY                 | DAY end + R |
| P:{h:HID}:applied        | hash | writer id -> highest sequence applied           | R after     |

Global: hash tag ``{g}``, one slot, written by one script per batch.

| key                  | type   | content                                          | expires     |
|----------------------|--------|--------------------------------------------------|-------------|
| P:{g}:totals         | hash   | reports                                          | none        |
| P:{g}:hosts          | zset   | hostname -> reports                              | R after     |
| P:{g}:hosts:last     | zset   | hostname -> last seen (ms)                       | R after     |
| P:{g}:chains         | zset   | FP -> reports                                    | R after     |
| P:{g}:classes        | hash   | classification -> reports                        | R after     |
| P:{g}:devices        | HLL    | keyed device hashes                              | R after     |
| P:{g}:day:DAY        | hash   | n, hHH and k-prefixed classification counts      | DAY end + R |
| P:{g}:day:DAY:hosts  | zset   | hostname -> reports on DAY                       | DAY end + R |
| P:{g}:day:DAY:chains | zset   | FP -> reports on DAY                             | DAY end + R |
| P:{g}:devices:DAY    | HLL    | keyed device hashes seen on DAY                  | DAY end + R |
| P:{g}:chain:FP       | hash   | reports, first/last seen, classification, label, | R after     |
|                      |        | port, certs (comma-separated CERT)               |             |
| P:{g}:chain:FP:hosts | zset   | hostname -> reports (capped)                     | R after     |
| P:{g}:cert:CERT      | string | the certificate's DER                            | R after     |
| P:{g}:applied        | hash   | writer id -> highest sequence applied            | R after     |

Hostnames and fingerprints appear in key names only after validation (HID is a digest;
FP and CERT are hex computed by the collector). Report text is only ever a hash field or a
sorted-set member. Nothing on a request path enumerates keys.
"""

from __future__ import annotations

import dataclasses
import hashlib


def host_id(hostname: str) -> str:
    return hashlib.sha256(hostname.encode("ascii")).hexdigest()[:16]


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

    def day(self, day: str) -> str:
        return self.meta.removesuffix(":meta") + f":day:{day}"

    def devices_day(self, day: str) -> str:
        return f"{self.devices}:{day}"

    def breaking_version(self, app_version: str) -> str:
        """Devices at risk for one app version; the version is hashed, never used as text."""
        digest = hashlib.sha256(app_version.encode("utf-8")).hexdigest()[:16]
        return f"{self.breaking}:v:{digest}"

    def fixed(self) -> list[str]:
        return [getattr(self, f.name) for f in dataclasses.fields(self)]


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

    def day(self, day: str) -> str:
        return f"{self.base}:day:{day}"

    def day_hosts(self, day: str) -> str:
        return f"{self.base}:day:{day}:hosts"

    def day_chains(self, day: str) -> str:
        return f"{self.base}:day:{day}:chains"

    def devices_day(self, day: str) -> str:
        return f"{self.devices}:{day}"

    def chain(self, fp: str) -> str:
        return f"{self.base}:chain:{fp}"

    def chain_hosts(self, fp: str) -> str:
        return f"{self.base}:chain:{fp}:hosts"

    def cert(self, cert_sha256: str) -> str:
        return f"{self.base}:cert:{cert_sha256}"

    def fixed(self) -> list[str]:
        return [self.totals, self.hosts, self.hosts_last, self.chains, self.classes,
                self.devices, self.applied]


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
        )

    @property
    def glob(self) -> GlobalKeys:
        base = f"{self.prefix}:{{g}}"
        return GlobalKeys(
            totals=f"{base}:totals", hosts=f"{base}:hosts", hosts_last=f"{base}:hosts:last",
            chains=f"{base}:chains", classes=f"{base}:classes", devices=f"{base}:devices",
            applied=f"{base}:applied", base=base,
        )

    def pattern(self) -> str:
        """SCAN pattern for tests and admin tools only; never used on a request path."""
        return f"{self.prefix}:*"
