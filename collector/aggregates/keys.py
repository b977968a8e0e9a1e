"""Every Redis key the collector reads or writes is built here; this docstring is the key table.

P is the key prefix (COLLECTOR_KEY_PREFIX, default ``pc``). HID is the first 16 hex digits of
SHA-256 of the normalised hostname, FP a chain fingerprint (64 hex), CERT a certificate's
SHA-256 (64 hex), DAY a UTC date ``YYYYMMDD``. R is the retention (COLLECTOR_RETENTION_DAYS).

Per host: hash tag ``{h:HID}``, one cluster slot, written by one script per batch.
"R after" means: set to R when the key is created, and again (for every such key of the host)
by a write whose last report is in a later hour than the host's (a pair's, an inventory
member's) last one: the key expires between R - 1 h and R after its last write. (Resetting
every key's TTL on every write cost one EXPIRE per key per batch.) APPKEY is the JSON text
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
| P:{h:HID}:inv                 | zset | INVKEY -> last seen (ms): field pin         | R after     |
|                               |      | inventory (capped, see below)               |             |
| P:{h:HID}:inv:seen            | hash | n<INVKEY> reports, f<INVKEY> first seen     | R after     |
|                               |      | (ms), o: reports counted as other           |             |
| P:{h:HID}:inv:other           | HLL  | INVKEYs counted as other                    | R after     |
| P:{h:HID}:inv:d:IID           | str  | device sketch of one INVKEY (4000 one-byte  | R after     |
|                               |      | HLL registers, read.sketch)                 |             |
| P:{h:HID}:inv:day:DAY         | hash | n/f/l<INVKEY>: reports, first/last (ms) on  | DAY end + R |
|                               |      | DAY; o: reports counted as other            |             |
| P:{h:HID}:inv:d:IID:DAY       | str  | device sketch of one INVKEY on DAY          | DAY end + R |

Events (``events``): when a pair key is created (kind ``new-pair``) or a public-trust pair's
``failing`` goes from 0 to more (``first-failing``), the host script that decided it pushes
the event; the writer hands it to the alerter and removes it (LREM) once enqueued, so a lost
reply or a crash between the two only delays it (the cooldown key dedupes the retry).
``m5:N`` keys are built by ``minutes5`` and passed to the host script.

Field pin inventory (``inv``): INVKEY is the JSON ``[app id, version, platform, [pins],
expiration]`` (an APPKEY and a ``pinsets`` member joined), IID the first 16 hex digits of
SHA-1 of an INVKEY. The writer passes the ``inv`` keys built by the ``inventory*`` methods;
the host script derives only an evicted member's sketch key (with ``redis.sha1hex``, from
``pair_prefix``, exactly as ``inventory_devices`` builds it). At most
the per-host cap of members: a new one past it replaces the least recently seen member when
that one was last seen more than R ago, else it is counted as other.

Pair keys exist only for chains holding their own member of ``chains``. A pair is protected
when its class is public-trust or its ``failing`` > 0; a new protected chain past the cap
evicts the least-reported unprotected one (its score moves to ``other``, its pair keys are
deleted: the host script derives them from ``pair_prefix`` exactly as the pair methods do).
``failing``/``at_risk`` count reports from enforcing / report-only clients while the pair is
public-trust. ``class``/``label``/``cv`` are overwritten on every write (cv: the
Classifier.version that decided them, empty for records spooled before versions existed).
Reports flagged ``test-report`` count only as ``test_reports`` (host meta and day hash,
global totals and day hash), nowhere else.

Global: what every report adds to is split over nine slots, so a Redis Cluster shares the
global writes instead of one primary doing them all. ``{g}`` holds the totals, the class
counts, the device HyperLogLogs and the daily hash: a few fields per batch. The rankings and
the chains are spread over eight shards ``{g:T}``, T in 0, 10, 1, 11, 2, 12, 3, 13 (shard
0..7: tags whose slots are 2048 apart, so an evenly split cluster of up to eight primaries
gets an even share): a hostname's members live in shard ``crc32(hostname) % 8``, a chain's
members and keys in shard ``crc32(FP) % 8``, a certificate in ``crc32(CERT) % 8``. Readers
read every shard (one pipeline) and merge in Python: a member is in exactly one shard, so a
ranking is the concatenation of the shards' members (never a ZUNION across slots). Each of
the nine slots is written by one script per batch, with its own ``applied`` marks.
"R after" on this table means: set when the key is created, then refreshed when a write
comes in a later hour than the record's last one (so it expires between R - 1 h and R after
the last write; the same holds for the per-host keys above).

| key                      | type   | content                                       | expires     |
|--------------------------|--------|-----------------------------------------------|-------------|
| P:{g}:totals             | hash   | reports, test_reports                         | none        |
| P:{g}:classes            | hash   | pair classification -> reports                | R after     |
| P:{g}:devices            | HLL    | keyed device hashes                           | R after     |
| P:{g}:day:DAY            | hash   | n, hHH, k-prefixed pair class counts,         | DAY end + R |
|                          |        | test_reports                                  |             |
| P:{g}:devices:DAY        | HLL    | keyed device hashes seen on DAY               | DAY end + R |
| P:{g}:applied            | hash   | writer id -> highest sequence applied         | R after     |
| P:{g}:retired            | zset   | dead writer id -> when retired (ms): its      | R + 1 day   |
|                          |        | marks are dropped from every applied hash     | after       |
| P:{g:T}:hosts            | zset   | hostname -> reports (the shard's hosts)       | R after     |
| P:{g:T}:hosts:last       | zset   | hostname -> last seen (ms)                    | R after     |
| P:{g:T}:hosts:failing    | zset   | hostname -> reports from enforcing clients on | R after     |
|                          |        | public-trust pairs                            |             |
| P:{g:T}:hosts:breaking   | zset   | hostname -> reports from report-only clients  | R after     |
|                          |        | on public-trust pairs                         |             |
| P:{g:T}:chains           | zset   | FP -> reports (the shard's chains)            | R after     |
| P:{g:T}:chains:last      | zset   | FP -> last seen (ms)                          | R after     |
| P:{g:T}:day:DAY:hosts    | zset   | hostname -> reports on DAY                    | DAY end + R |
| P:{g:T}:day:DAY:chains   | zset   | FP -> reports on DAY                          | DAY end + R |
| P:{g:T}:day:DAY:failing  | zset   | hostname -> hosts:failing reports on DAY      | DAY end + R |
| P:{g:T}:day:DAY:breaking | zset   | hostname -> hosts:breaking reports on DAY     | DAY end + R |
| P:{g:T}:chain:FP         | hash   | reports, first/last seen, port, certs (comma- | R after     |
|                          |        | separated CERT), and the chain's own          |             |
|                          |        | classification, label, cv (overwritten)       |             |
| P:{g:T}:chain:FP:hosts   | zset   | hostname -> reports (capped)                  | R after     |
| P:{g:T}:chain:FP:hosts:DAY | zset | hostname -> reports on DAY (capped)           | DAY end + R |
| P:{g:T}:chain:FP:day:DAY | hash   | n, hHH, first/last (ms): the chain on all     | DAY end + R |
|                          |        | hosts                                         |             |
| P:{g:T}:cert:CERT        | string | the certificate's DER (SET NX by the writer,  | R after     |
|                          |        | outside the scripts: idempotent)              | (+ 1 h)     |
| P:{g:T}:applied          | hash   | writer id -> highest sequence applied         | R after     |
| P:{g:T}:scratch:union    | zset   | a windowed union of day rankings, made and    | within one  |
|                          |        | deleted inside one script call (summary)      | script call |

Retention (``retention``, from the writer loop, a bounded number of members per call and
shard): a host whose ``hosts:last`` or a chain whose ``chains:last`` is older than R leaves
``hosts``, ``hosts:last``, ``hosts:failing``, ``hosts:breaking`` / ``chains``,
``chains:last``, and a host no longer in ``hosts:last`` leaves every ``chain:FP:hosts``. A
``retired`` member is forgotten R + 1 day after it was retired, when no host's ``applied``
hash can still hold it.

Alerts: hash tag ``{a}``, one slot. DIGEST is the first 32 hex digits of SHA-256 of
``rule TAB hostname TAB FP`` (FP empty for ``spike``; the pin set's digest for
``pins-expiring``).

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
| P:{a}:lease:pins-expiring | string | the writer evaluating pins-expiring         | lease (ms)  |

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

Dashboard sessions (signed-in analysts): hash tag ``{s}``, one slot. SID is the first 32 hex
digits of SHA-256 of the random session id the signed cookie carries (the id itself is never
stored), so a stolen Redis dump opens no session; sign-out deletes the key.

| key                      | type   | content                                       | expires     |
|--------------------------|--------|-----------------------------------------------|-------------|
| P:{s}:session:SID        | string | JSON {name (the token's name), tag (keyed     | 12 h after  |
|                          |        | digest of the token), at (ms)}                | last use    |

Rate limits (the report route, only when a COLLECTOR_RATE_LIMIT_* setting is on): SID is
the first 16 hex digits of HMAC-SHA256, keyed by the device secret, of the client's address
prefix (``/24`` or ``/64``), so no address can be read back; a source's keys share the hash
tag ``{r:SID}`` (one slot per source: sources spread over the cluster). HOUR is unix s / 3600.
CID is the chain fingerprint's first 15 hex digits as a decimal integer (an intset member).

| key                      | type   | content                                       | expires     |
|--------------------------|--------|-----------------------------------------------|-------------|
| P:{r:SID}:rate           | string | the source's GCRA bucket: theoretical arrival | when full   |
|                          |        | time (ms) of its next report                  | again       |
| P:{r:SID}:chains:HOUR    | set    | CIDs of the distinct chains accepted from the | HOUR end    |
|                          |        | source in HOUR (at most the cap)              | + 1 min     |
| P:{r}:rate               | string | the global bucket (every source)              | when full   |

Hostnames and fingerprints appear in key names only after validation (HID is a digest;
FP and CERT are hex computed by the collector). Report text is only ever a hash field or a
sorted-set member. Nothing on a request path enumerates keys.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import hmac
import zlib


def host_id(hostname: str) -> str:
    return hashlib.sha256(hostname.encode("ascii")).hexdigest()[:16]


def inventory_id(member: str) -> str:
    """IID: names an INVKEY in a key; SHA-1 because the host script derives it too."""
    return hashlib.sha1(member.encode("utf-8"), usedforsecurity=False).hexdigest()[:16]


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

    @functools.cached_property
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

    @functools.cached_property
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

    # -- field pin inventory (host.lua derives these from pair_prefix) ---------------------
    @property
    def inventory(self) -> str:
        """INVKEY -> last seen (ms)."""
        return f"{self.base}:inv"

    @property
    def inventory_seen(self) -> str:
        return f"{self.base}:inv:seen"

    @property
    def inventory_other(self) -> str:
        return f"{self.base}:inv:other"

    def inventory_day(self, day: str) -> str:
        return f"{self.base}:inv:day:{day}"

    def inventory_devices(self, member: str) -> str:
        return f"{self.base}:inv:d:{inventory_id(member)}"

    def inventory_devices_day(self, member: str, day: str) -> str:
        return f"{self.inventory_devices(member)}:{day}"

    def fixed(self) -> list[str]:
        """KEYS[1..14] of lua/host.lua, in its order."""
        return [self.meta, self.devices, self.chains, self.apps, self.results, self.enforce,
                self.pinsets, self.breaking, self.breaking_apps, self.applied, self.failing,
                self.failing_apps, self.other_chains, self.events]


SHARD_TAGS = ("g:0", "g:10", "g:1", "g:11", "g:2", "g:12", "g:3", "g:13")
"""Hash tags of the global shards: CRC16 slots 758, 2668, 4823, 6733, 8884, 10798, 12949, 14863,
one per eighth of the slot space."""


@functools.lru_cache(maxsize=65_536)
def shard_index(text: str) -> int:
    """The shard a hostname, FP or CERT lives in (a pure function of the text)."""
    return zlib.crc32(text.encode("utf-8")) % len(SHARD_TAGS)


@dataclasses.dataclass(frozen=True)
class ShardKeys:
    """The keys of one global shard ``{g:T}``: rankings, chains and certificates."""

    base: str

    @property
    def hosts(self) -> str:
        return f"{self.base}:hosts"

    @property
    def hosts_last(self) -> str:
        return f"{self.base}:hosts:last"

    @property
    def hosts_failing(self) -> str:
        return f"{self.base}:hosts:failing"

    @property
    def hosts_breaking(self) -> str:
        return f"{self.base}:hosts:breaking"

    @property
    def chains(self) -> str:
        return f"{self.base}:chains"

    @property
    def chains_last(self) -> str:
        return f"{self.base}:chains:last"

    @property
    def applied(self) -> str:
        return f"{self.base}:applied"

    @property
    def union_scratch(self) -> str:
        return f"{self.base}:scratch:union"

    def day_hosts(self, day: str) -> str:
        return f"{self.base}:day:{day}:hosts"

    def day_chains(self, day: str) -> str:
        return f"{self.base}:day:{day}:chains"

    def day_failing(self, day: str) -> str:
        return f"{self.base}:day:{day}:failing"

    def day_breaking(self, day: str) -> str:
        return f"{self.base}:day:{day}:breaking"

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


@dataclasses.dataclass(frozen=True)
class GlobalKeys:
    """The unsharded global keys (``{g}``), the shards, and each chain's and certificate's
    keys in its own shard."""

    totals: str
    classes: str
    devices: str
    applied: str
    base: str
    shards: tuple[ShardKeys, ...]

    def day(self, day: str) -> str:
        return f"{self.base}:day:{day}"

    def devices_day(self, day: str) -> str:
        return f"{self.devices}:{day}"

    def retired(self) -> str:
        """Writers retired by ``retention`` (each member is forgotten R + 1 day later)."""
        return f"{self.base}:retired"

    def of_host(self, hostname: str) -> ShardKeys:
        """The shard holding a hostname's ranking members."""
        return self.shards[shard_index(hostname)]

    def of_chain(self, fp: str) -> ShardKeys:
        """The shard holding a chain's ranking members and keys."""
        return self.shards[shard_index(fp)]

    def chain(self, fp: str) -> str:
        return self.of_chain(fp).chain(fp)

    def chain_hosts(self, fp: str) -> str:
        return self.of_chain(fp).chain_hosts(fp)

    def chain_hosts_day(self, fp: str, day: str) -> str:
        return self.of_chain(fp).chain_hosts_day(fp, day)

    def chain_day(self, fp: str, day: str) -> str:
        return self.of_chain(fp).chain_day(fp, day)

    def cert(self, cert_sha256: str) -> str:
        return self.shards[shard_index(cert_sha256)].cert(cert_sha256)


@functools.lru_cache(maxsize=16)
def _global_keys(prefix: str) -> GlobalKeys:
    base = f"{prefix}:{{g}}"
    return GlobalKeys(
        totals=f"{base}:totals", classes=f"{base}:classes", devices=f"{base}:devices",
        applied=f"{base}:applied", base=base,
        shards=tuple(ShardKeys(f"{prefix}:{{{tag}}}") for tag in SHARD_TAGS),
    )


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


def source_digest(secret: bytes, source: str) -> str:
    """SID: names a client's address prefix in a key; keyed, so it cannot be reversed by
    hashing every /24 (and every machine sharing the device secret shares the bucket)."""
    return hmac.new(secret, source.encode("ascii"), hashlib.sha256).hexdigest()[:16]


@dataclasses.dataclass(frozen=True)
class LimitKeys:
    """Rate-limit buckets of the report route: per source under ``{r:SID}``, global ``{r}``."""

    prefix: str

    def source_rate(self, sid: str) -> str:
        return f"{self.prefix}:{{r:{sid}}}:rate"

    def source_chains(self, sid: str, hour: int) -> str:
        return f"{self.prefix}:{{r:{sid}}}:chains:{hour}"

    @property
    def global_rate(self) -> str:
        return f"{self.prefix}:{{r}}:rate"


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

    @property
    def pins_expiring_lease(self) -> str:
        return f"{self.base}:lease:pins-expiring"


@dataclasses.dataclass(frozen=True)
class SessionKeys:
    """Dashboard sessions, all under ``{s}`` (one slot)."""

    base: str

    def session(self, session_id: str) -> str:
        """The record of one session, named by a digest of its random id."""
        digest = hashlib.sha256(session_id.encode("ascii")).hexdigest()[:32]
        return f"{self.base}:session:{digest}"


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
        return _global_keys(self.prefix)

    @property
    def alerts(self) -> AlertKeys:
        return AlertKeys(f"{self.prefix}:{{a}}")

    @property
    def triage(self) -> TriageKeys:
        return TriageKeys(f"{self.prefix}:{{t}}")

    @property
    def limits(self) -> LimitKeys:
        return LimitKeys(self.prefix)

    @property
    def sessions(self) -> SessionKeys:
        return SessionKeys(f"{self.prefix}:{{s}}")

    def pattern(self) -> str:
        """SCAN pattern for tests and admin tools only; never used on a request path."""
        return f"{self.prefix}:*"
