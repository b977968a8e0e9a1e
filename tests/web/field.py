"""An app with builds in the field (``tests.rotation``), for the inventory and rehearsal
tests of the API and of the dashboard."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from cryptography.hazmat.primitives import serialization
from flask.testing import FlaskClient

from collector import create_app
from collector.config import Settings
from tests.helpers import flush, post
from tests.rotation import Rotation, trustkit_doc

Build = tuple[str, str, list[str], int, str]
"""(version, platform, pins, devices, pin set expiration)."""


def field_client(settings: Settings, rot: Rotation, builds: Iterable[Build]) -> FlaskClient:
    """A client of an app trusting CA A's root, each build's devices' reports posted and
    flushed; close it with ``client.application.extensions["collector"].ingestor.close()``."""
    roots = settings.data_dir + "-roots.pem"
    with open(roots, "wb") as f:
        f.write(rot.root_a.public_bytes(serialization.Encoding.PEM))
    client = create_app(dataclasses.replace(settings, public_roots=roots)).test_client()
    for version, platform, pins, devices, expiration in builds:
        for i in range(devices):
            doc = trustkit_doc(version, platform, pins, f"{platform}-{version}-{i}", expiration)
            resp = post(client, doc)
            assert resp.status_code == 204, resp.json
    flush(client)
    return client
