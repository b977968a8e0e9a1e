"""Redis Cluster: a three-primary loopback cluster, reports in, every view out.

Each script's keys share one hash tag, so nothing here may ever raise CROSSSLOT.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from collector import create_app
from collector.aggregates.connection import connect
from collector.aggregates.keys import Keys
from collector.aggregates.writer import ReportStore, Stamped
from collector.cli.main import main
from collector.config import Settings
from collector.intake.chains import Chain
from tests.helpers import (
    CHROME_FP,
    TOKEN,
    auth,
    example,
    example_doc,
    post,
    post_chunked,
    report,
)
from tests.rediscluster import local_cluster

IOS_FP = "eaa82f0fbf1e1c87fb2b8c5f921bf7644a4a30f38e52b1410b0994e4d91c4a5f"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with local_cluster(tmp_path_factory.mktemp("cluster")) as ports:
        yield f"redis+cluster://127.0.0.1:{ports[0]}"


def test_reports_and_reads_through_a_cluster(cluster: str, tmp_path: Path) -> None:
    settings = Settings(redis_url=cluster, data_dir=str(tmp_path), api_tokens=(TOKEN,),
                        device_secret="s")
    app = create_app(settings)
    try:
        client = app.test_client()
        assert post(client, example("trustkit-ios.json")).status_code == 204
        assert post_chunked(client, example("trustkit-android.json")).status_code == 204
        assert post(client, example("chromium-hpkp.json")).status_code == 204
        assert post(client, example("trustkit-ios-captured-2015.json")).status_code == 204
        summary = client.get("/v1/summary", headers=auth()).json
        assert (summary["reports"], summary["hosts"], summary["chains"]) == (4, 2, 3)
        since = {"since": "2000-01-01T00:00:00Z"}
        windowed = client.get("/v1/summary", headers=auth(), query_string=since).json
        assert (windowed["reports"], windowed["hosts"], windowed["chains"]) == (4, 2, 3)
        listed = client.get("/v1/hosts", headers=auth(), query_string=since).json
        assert len(listed["items"]) == 2
        host = client.get("/v1/hosts/api.example.com", headers=auth()).json
        assert {c["fingerprint"]: c["reports"] for c in host["chains"]}[IOS_FP] == 2
        chain = client.get(f"/v1/chains/{IOS_FP}", headers=auth()).json
        assert chain["reports"] == 2 and len(chain["certificates"]) == 2
        hosts = client.get("/v1/hosts", headers=auth()).json
        assert {h["hostname"] for h in hosts["items"]} == {"api.example.com",
                                                           "www.datatheorem.com"}
        timeline = client.get("/v1/hosts/api.example.com/timeline?interval=day",
                              headers=auth()).json
        assert sum(p["reports"] for p in timeline["points"]) == 3
        inventory = client.get("/v1/hosts/api.example.com/inventory", headers=auth(),
                               query_string=since).json
        assert sum(v["reports"] for v in inventory["versions"]) == 3
        chain_pem = "".join(example_doc("chromium-hpkp.json")["validated-certificate-chain"])
        rehearsal = client.post("/v1/hosts/api.example.com/rehearsal", data=chain_pem,
                                headers={**auth(), "Content-Type": "application/x-pem-file"})
        assert rehearsal.status_code == 200 and rehearsal.json["would_fail"] is True
        ingestor = app.extensions["collector"].ingestor
        assert ingestor.store.run_id().count(",") == 2  # one run id per primary
        assert not ingestor.failed
    finally:
        app.extensions["collector"].ingestor.close()


def test_cluster_replay_is_exactly_once(cluster: str, tmp_path: Path) -> None:
    settings = Settings(redis_url=cluster, data_dir=str(tmp_path), api_tokens=(TOKEN,),
                        device_secret="s", key_prefix="replay")
    app = create_app(dataclasses.replace(settings))
    try:
        client = app.test_client()
        for _ in range(3):
            assert post(client, example("trustkit-ios.json")).status_code == 204
        ingestor = app.extensions["collector"].ingestor
        assert ingestor.flush(5)
        ingestor.fail("TimeoutError")  # as if replies were lost: everything is replayed
        deadline = time.monotonic() + 10
        while ingestor.failed and time.monotonic() < deadline:
            time.sleep(0.05)
        assert client.get("/v1/summary", headers=auth()).json["reports"] == 3
    finally:
        app.extensions["collector"].ingestor.close()


def test_cli_reads_a_cluster(cluster: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings(redis_url=cluster, data_dir=str(tmp_path), api_tokens=(TOKEN,),
                        device_secret="s", key_prefix="cli")
    app = create_app(settings)
    try:
        client = app.test_client()
        assert post(client, example("trustkit-ios.json")).status_code == 204
        assert post(client, example("chromium-hpkp.json")).status_code == 204
        assert app.extensions["collector"].ingestor.flush(5)
    finally:
        app.extensions["collector"].ingestor.close()
    monkeypatch.setenv("COLLECTOR_KEY_PREFIX", "cli")
    since = ("--since", "2000-01-01T00:00:00Z")

    def read(*argv: str) -> Any:
        assert main([*argv, "--json", "--redis-url", cluster]) == 0
        return json.loads(capsys.readouterr().out)

    assert read("summary")["reports"] == 2
    windowed = read("summary", *since)
    assert (windowed["reports"], windowed["hosts"], windowed["chains"]) == (2, 1, 2)
    assert [h["hostname"] for h in read("hosts", *since)["items"]] == ["api.example.com"]
    assert read("host", "API.example.com", *since)["reports"] == 2
    assert read("chain", IOS_FP)["hosts"] == [{
        "hostname": "api.example.com", "reports": 1, "classification": "unknown", "label": None,
        "triage": {"state": "open", "note": None, "by": None, "at": None, "via": None,
                   "pin": None}}]
    assert read("chain", IOS_FP, *since)["reports"] == 1
    assert {c["fingerprint"] for c in read("chains", "--hostname", "api.example.com",
                                           "--classification", "unknown", *since)["items"]} \
        == {IOS_FP, CHROME_FP}
    assert main(["host", "nothing.example", "--redis-url", cluster]) == 1


def test_cluster_eviction_deletes_the_evicted_pair_keys(cluster: str) -> None:
    """The host script deletes an evicted pair's keys by name: same slot, so no CROSSSLOT."""
    def chain(n: int) -> Chain:
        der = f"der {n}".encode()
        return Chain(ders=(der,), fingerprint=hashlib.sha256(der).hexdigest(), pins=())

    client = connect(cluster, 2.0)
    keys = Keys("evict")
    st = ReportStore(client, keys, retention_s=86400, host_cap=1)
    base = report(1)
    unknown = dataclasses.replace(base, chain=chain(1), classification="unknown")
    public = dataclasses.replace(base, chain=chain(2), classification="public-trust",
                                 enforce=True)
    assert st.write([Stamped(unknown, "w", 1)]) == 1
    hk = keys.host(base.hostname)
    assert client.exists(hk.pair(chain(1).fingerprint))
    assert st.write([Stamped(public, "w", 2)]) == 1
    assert not client.exists(hk.pair(chain(1).fingerprint), hk.pair_devices(chain(1).fingerprint))
    members = {m.decode() for m in client.zrange(hk.chains, 0, -1)}
    assert members == {chain(2).fingerprint, "other"}


def test_triage_through_a_cluster(cluster: str, tmp_path: Path) -> None:
    """Triage keys share {t}: a change is one MULTI and is_ignored one round trip there too."""
    from collector.alerts.triage import is_ignored

    settings = Settings(redis_url=cluster, data_dir=str(tmp_path), api_tokens=(f"ann:{TOKEN}",),
                        device_secret="s")
    app = create_app(settings)
    try:
        client = app.test_client()
        assert post(client, example("chromium-hpkp.json")).status_code == 204
        assert app.extensions["collector"].ingestor.flush(10)
        resp = client.put(f"/v1/triage/pairs/api.example.com/{CHROME_FP}", headers=auth(),
                          json={"state": "ignored", "note": "lab"})
        assert resp.status_code == 200 and resp.json["triage"]["by"] == "ann"
        host = client.get("/v1/hosts/api.example.com", headers=auth()).json
        assert [c["fingerprint"] for c in host["ignored_chains"]] == [CHROME_FP]
        assert client.get("/v1/triage/audit", headers=auth()).json["items"][0]["by"] == "ann"
        assert client.get("/v1/alerts", headers=auth()).status_code == 200
        reads = app.extensions["collector"].reads
        assert is_ignored(reads.client, reads.keys, "api.example.com", CHROME_FP, [])
    finally:
        app.extensions["collector"].ingestor.close()
