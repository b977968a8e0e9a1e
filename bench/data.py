"""Synthetic data for the memory and queries parts, written straight through ReportStore."""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import re
import time
from pathlib import Path
from typing import Any

APP_VERSIONS = ("4.2.0", "4.2.1", "4.3.0", "5.0.0")


def make_chains(n: int) -> list[list[str]]:
    """n distinct [leaf, CA] PEM chains: a self-signed EC P-256 CA and a leaf it signed."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)
    chains = []
    for i in range(n):
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"Bench Proxy CA {i}"),
                             x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Bench Proxy")])
        ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
              .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
              .not_valid_before(now - dt.timedelta(days=30))
              .not_valid_after(now + dt.timedelta(days=3650))
              .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
              .sign(ca_key, hashes.SHA256()))
        leaf_key = ec.generate_private_key(ec.SECP256R1())
        leaf = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                                            "*.example.com")]))
                .issuer_name(ca_name).public_key(leaf_key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(days=1))
                .not_valid_after(now + dt.timedelta(days=365))
                .add_extension(x509.SubjectAlternativeName([x509.DNSName("*.example.com")]),
                               critical=False)
                .sign(ca_key, hashes.SHA256()))
        chains.append([c.public_bytes(serialization.Encoding.PEM).decode("ascii")
                       for c in (leaf, ca)])
    return chains


class ReportMaker:
    """Reports as the ingest path builds them: formats.build, then the pair's class, the
    chain's own class and the classifier version stamped as ``Services.classify`` does (so a
    view's classifier finds every stored class current and recomputes none)."""

    def __init__(self, shared: Path, chains: list[list[str]], devices: int, seed: int) -> None:
        from collector.intel.classify import Classifier

        self.template = json.loads((shared / "examples" / "trustkit-ios.json").read_bytes())
        self.chains = chains
        self.devices = [f"{random.Random(seed + i).getrandbits(128):032X}"
                        for i in range(devices)]
        self.rng = random.Random(seed)
        self.classifier = Classifier.from_files(None)
        self.classes: dict[tuple[str, str], tuple[Any, Any]] = {}
        self.secret = b"bench-device-secret"

    def make(self, hostname: str, chain: int) -> Any:
        from collector.intake import formats
        from collector.wiring import report_classes, stamped

        doc = dict(self.template)
        doc["hostname"] = hostname
        doc["validated-certificate-chain"] = self.chains[chain]
        doc["app-vendor-id"] = self.rng.choice(self.devices)
        doc["app-version"] = self.rng.choice(APP_VERSIONS)
        report = formats.build(doc, received_ms=int(time.time() * 1000), secret=self.secret,
                               client_addr=None)
        key = (report.chain.fingerprint, report.hostname)
        found = self.classes.get(key)
        if found is None:
            found = self.classes[key] = report_classes(self.classifier, report)
        return stamped(report, self.classifier, *found)


class Writer:
    """ReportStore.write on a connection of its own, with the default settings."""

    def __init__(self, url: str) -> None:
        from collector.aggregates.connection import connect
        from collector.aggregates.keys import Keys
        from collector.aggregates.writer import ReportStore
        from collector.config import Settings

        defaults = Settings()
        self.client = connect(url, 30.0)
        self.store = ReportStore(self.client, Keys(defaults.key_prefix),
                                 retention_s=defaults.retention_seconds,
                                 host_cap=defaults.host_cap)
        self.seq = 0
        self.writer = f"bench-{os.getpid()}"

    def write(self, reports: list[Any], batch: int = 500) -> float:
        from collector.aggregates.writer import Stamped

        spent = 0.0
        for i in range(0, len(reports), batch):
            items = []
            for r in reports[i : i + batch]:
                self.seq += 1
                items.append(Stamped(r, self.writer, self.seq))
            t = time.perf_counter()
            self.store.write(items)
            spent += time.perf_counter() - t
        return spent


def aggregated_hosts(shared: Path, url: str, nhosts: int) -> tuple[Writer, list[str], list[Any]]:
    """The read benchmarks' data set: nhosts hosts over 10 chains, one report per host, then
    as many again spread at random (skewed counts), written to the redis-server at url.
    Returns the writer (still connected), the hostnames and the reports."""
    hosts = [f"h{i}.svc{i % 97}.example.com" for i in range(nhosts)]
    chains = make_chains(10)
    maker = ReportMaker(shared, chains, devices=50_000, seed=2)
    writer = Writer(url)
    reports = [maker.make(h, i % len(chains)) for i, h in enumerate(hosts)]
    reports += [maker.make(maker.rng.choice(hosts), maker.rng.randrange(len(chains)))
                for _ in range(nhosts)]
    writer.write(reports)
    return writer, hosts, reports


def counted_hosts(writer: Writer) -> int:
    """Hosts as the store counts them: every global shard's hosts."""
    return sum(int(writer.client.zcard(s.hosts)) for s in writer.store.keys.glob.shards)


def used_memory(client: Any) -> int:
    return int(client.info("memory")["used_memory"])


_KIND = ((re.compile(r"\{h:[0-9a-f]+\}"), "{h}"), (re.compile(r"[0-9a-f]{64}"), "X"),
         (re.compile(r"(?<=:)\d{8}(?=:|$)"), "DAY"))


def memory_by_kind(client: Any) -> dict[str, tuple[int, int]]:
    """Bytes and key count per key shape (bench only: SCAN is never on a request path)."""
    out: dict[str, tuple[int, int]] = {}
    for raw in client.scan_iter(match="pc:*", count=1000):
        key = raw.decode()
        kind = key
        for pattern, repl in _KIND:
            kind = pattern.sub(repl, kind)
        size = int(client.memory_usage(key, samples=0) or 0)
        total, count = out.get(kind, (0, 0))
        out[kind] = (total + size, count + 1)
    return out


def fill(maker: ReportMaker, writer: Writer, hosts: list[str], n: int, chains: int) \
        -> tuple[float, float]:
    """n reports over the hosts x chains, in chunks; returns (build s, write s)."""
    build = write = 0.0
    rng = maker.rng
    chunk = 10_000
    done = 0
    while done < n:
        t = time.perf_counter()
        reports = [maker.make(rng.choice(hosts), rng.randrange(chains))
                   for _ in range(min(chunk, n - done))]
        build += time.perf_counter() - t
        write += writer.write(reports)
        done += len(reports)
    return build, write
