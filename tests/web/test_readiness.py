"""/readyz takes the instance out of rotation when its spool cannot be written."""

from __future__ import annotations

import os
from pathlib import Path

from flask.testing import FlaskClient

from collector.web.health import PROBE_EVERY_S, SpoolProbe


def test_ready_then_not_when_the_spool_directory_is_replaced(client: FlaskClient) -> None:
    resp = client.get("/readyz")
    assert resp.status_code == 200, resp.json
    spool = Path(client.application.extensions["collector"].ingestor.spool.directory)
    assert spool.is_dir()  # the probe creates it if the first segment has not yet
    os.rename(spool, spool.with_name("moved"))
    spool.write_text("a file where the directory was")
    try:
        resp = client.get("/readyz")
        assert resp.status_code == 503
        assert "spool_unwritable" in resp.json["reasons"]
        assert client.get("/healthz").status_code == 200
    finally:
        spool.unlink()
        os.rename(spool.with_name("moved"), spool)
    assert client.get("/readyz").status_code == 200
    assert not [p for p in spool.iterdir() if p.name.startswith(".readyz-")]  # cleaned up


def test_the_write_probe_is_cached_and_retried_while_failing(tmp_path: Path) -> None:
    probe = SpoolProbe(str(tmp_path / "spool"))
    assert probe.writable(now=100.0)
    assert (tmp_path / "spool").is_dir() and not list((tmp_path / "spool").iterdir())
    (tmp_path / "spool").rmdir()
    (tmp_path / "spool").mkdir(mode=0o755)
    checked = probe._checked_at
    assert probe.writable(now=100.0 + PROBE_EVERY_S / 2) and probe._checked_at == checked
    assert probe.writable(now=100.0 + PROBE_EVERY_S) and probe._checked_at > checked
    (tmp_path / "spool").rmdir()
    (tmp_path / "blocker").write_text("x")
    bad = SpoolProbe(str(tmp_path / "blocker" / "spool"))  # its parent is a file
    assert not bad.writable(now=0.0) and not bad.writable(now=0.1)
