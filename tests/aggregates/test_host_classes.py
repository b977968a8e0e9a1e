"""The host list filtered by the class of the host's (host, chain) pairs (dashboard hosts page)."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from collector.aggregates.read import host_classes
from collector.aggregates.read.context import ReadContext
from collector.aggregates.read.windows import Window
from tests.helpers import example_doc, public_trust_ios, send


def _reads(app: Flask) -> ReadContext:
    found: ReadContext = app.extensions["collector"].reads
    return found


def test_hosts_of_a_class(papp: Flask, pclient: FlaskClient) -> None:
    cdn = public_trust_ios(**{"hostname": "cdn.example.net", "noted-hostname": "example.net"})
    send(pclient, public_trust_ios(), cdn, example_doc("trustkit-ios.json"))
    ctx = _reads(papp)
    found = host_classes.host_classes(ctx, ["api.example.com", "cdn.example.net"])
    assert found == {"api.example.com": {"public-trust", "unknown"},
                     "cdn.example.net": {"unknown"}}
    items, after = host_classes.hosts_of_class(ctx, Window(), "reports", "public-trust", 0, 50)
    assert [i["hostname"] for i in items] == ["api.example.com"] and after is None
    items, _ = host_classes.hosts_of_class(ctx, Window(), "last_seen", "unknown", 0, 50)
    assert {i["hostname"] for i in items} == {"api.example.com", "cdn.example.net"}
    assert set(items[0]) == {"hostname", "reports", "devices", "chains", "first_seen",
                             "last_seen"}


def test_a_full_page_says_where_the_next_starts(papp: Flask, pclient: FlaskClient) -> None:
    docs = [public_trust_ios(**{"hostname": f"h{n}.example.net", "noted-hostname":
                                "example.net", "app-vendor-id": f"d{n}"}) for n in range(5)]
    send(pclient, *docs)
    ctx = _reads(papp)
    first, after = host_classes.hosts_of_class(ctx, Window(), "reports", "unknown", 0, 2)
    assert len(first) == 2 and after == 2
    rest, end = host_classes.hosts_of_class(ctx, Window(), "reports", "unknown", after, 10)
    assert len(rest) == 3 and end is None
    assert not {i["hostname"] for i in first} & {i["hostname"] for i in rest}


def test_the_scan_is_bounded(papp: Flask, pclient: FlaskClient,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(host_classes, "SCAN_BUDGET", 2)
    monkeypatch.setattr(host_classes, "SCAN_BATCH", 1)
    docs = [public_trust_ios(**{"hostname": f"h{n}.example.net", "noted-hostname":
                                "example.net", "app-vendor-id": f"d{n}"}) for n in range(4)]
    send(pclient, *docs)
    items, after = host_classes.hosts_of_class(_reads(papp), Window(), "reports",
                                               "public-trust", 0, 10)
    assert items == [] and after == 2  # nothing found within the budget; more may follow
