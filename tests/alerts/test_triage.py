"""Triage state in Redis: is_ignored (pair and issuer), records, audit, and the views' marks."""

from __future__ import annotations

import json

import pytest
import redis
from flask.testing import FlaskClient

from collector.aggregates.keys import Keys
from collector.alerts import triage
from tests.helpers import CHROME_FP, CHROME_PINS, IOS_FP, auth, send_golden

HOST = "api.example.com"


def test_nothing_is_ignored_at_first(rdb: redis.Redis, keys: Keys) -> None:
    assert not triage.is_ignored(rdb, keys, HOST, IOS_FP, [])
    assert not triage.is_ignored(rdb, keys, HOST, IOS_FP, CHROME_PINS)
    assert triage.get_pair(rdb, keys, HOST, IOS_FP) is None


def test_an_ignored_pair_is_ignored_and_back_to_open_is_not(rdb: redis.Redis,
                                                            keys: Keys) -> None:
    doc = triage.set_pair(rdb, keys, HOST, IOS_FP, "ignored", "our own proxy", "alice",
                          at_ms=1_700_000_000_000)
    assert doc == {"state": "ignored", "note": "our own proxy", "by": "alice",
                   "at": "2023-11-14T22:13:20Z", "via": "pair", "pin": None}
    assert triage.is_ignored(rdb, keys, HOST, IOS_FP, [])
    assert not triage.is_ignored(rdb, keys, "other.example.com", IOS_FP, [])
    assert not triage.is_ignored(rdb, keys, HOST, CHROME_FP, [])
    assert triage.get_pair(rdb, keys, HOST, IOS_FP) == doc
    triage.set_pair(rdb, keys, HOST, IOS_FP, "open", "", "bob")
    assert not triage.is_ignored(rdb, keys, HOST, IOS_FP, [])
    assert triage.get_pair(rdb, keys, HOST, IOS_FP)["by"] == "bob"  # type: ignore[index]


def test_an_ignored_issuer_ignores_every_chain_holding_its_pin(rdb: redis.Redis,
                                                                keys: Keys) -> None:
    triage.set_issuer(rdb, keys, CHROME_PINS[1], "ignored", "corporate CA", "alice")
    assert triage.is_ignored(rdb, keys, HOST, CHROME_FP, CHROME_PINS)
    assert triage.is_ignored(rdb, keys, "any.example.org", "f" * 64, [CHROME_PINS[1]])
    assert not triage.is_ignored(rdb, keys, HOST, CHROME_FP, [CHROME_PINS[0]])
    triage.set_issuer(rdb, keys, CHROME_PINS[1], "acknowledged", "", "alice")
    assert not triage.is_ignored(rdb, keys, HOST, CHROME_FP, CHROME_PINS)
    assert triage.get_issuer(rdb, keys, CHROME_PINS[1])["state"] == "acknowledged"  # type: ignore[index]


def test_is_ignored_is_one_round_trip(rdb: redis.Redis, keys: Keys,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = redis.client.Pipeline.execute

    def counted(self: redis.client.Pipeline, *a: object, **kw: object) -> object:
        calls.append(len(self.command_stack))
        return real(self, *a, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(redis.client.Pipeline, "execute", counted)
    triage.is_ignored(rdb, keys, HOST, IOS_FP, CHROME_PINS)
    assert calls == [2]


def test_every_change_is_audited_newest_first(rdb: redis.Redis, keys: Keys) -> None:
    triage.set_pair(rdb, keys, HOST, IOS_FP, "acknowledged", "looking", "alice", at_ms=1000)
    triage.set_issuer(rdb, keys, CHROME_PINS[0], "ignored", "", "bob", at_ms=2000)
    items, more = triage.audit_page(rdb, keys, 0, 10)
    assert not more
    assert items == [
        {"target": "issuer", "hostname": None, "fingerprint": None, "pin": CHROME_PINS[0],
         "state": "ignored", "note": None, "by": "bob", "at": "1970-01-01T00:00:02Z"},
        {"target": "pair", "hostname": HOST, "fingerprint": IOS_FP, "pin": None,
         "state": "acknowledged", "note": "looking", "by": "alice",
         "at": "1970-01-01T00:00:01Z"}]
    first, more = triage.audit_page(rdb, keys, 0, 1)
    assert more and first == items[:1]
    assert rdb.ttl(keys.triage.audit) == -1  # kept (trimmed by length), like the records


def test_bad_changes_are_refused_before_anything_is_stored(rdb: redis.Redis,
                                                           keys: Keys) -> None:
    with pytest.raises(ValueError, match="state"):
        triage.set_pair(rdb, keys, HOST, IOS_FP, "closed", "", "alice")
    with pytest.raises(ValueError, match="note"):
        triage.set_issuer(rdb, keys, CHROME_PINS[0], "ignored", "x" * 501, "alice")
    assert rdb.dbsize() == 0


def test_triage_keys_share_one_slot(keys: Keys) -> None:
    tk = keys.triage
    names = [tk.pair(HOST, IOS_FP), tk.issuer(CHROME_PINS[0]), tk.audit, tk.ignored,
             tk.ignored_issuers]
    assert all("{t}" in n for n in names)
    assert CHROME_PINS[0] not in tk.issuer(CHROME_PINS[0])  # a pin is digested in a key name
    assert HOST not in tk.pair(HOST, IOS_FP)


def test_views_list_ignored_pairs_apart(client: FlaskClient, rdb: redis.Redis,
                                        keys: Keys) -> None:
    send_golden(client)
    before = client.get(f"/v1/hosts/{HOST}", headers=auth()).json
    assert {c["fingerprint"] for c in before["chains"]} == {IOS_FP, CHROME_FP}
    assert before["ignored_chains"] == []
    assert all(c["triage"]["state"] == "open" for c in before["chains"])
    triage.set_pair(rdb, keys, HOST, IOS_FP, "ignored", "test rig", "alice")
    triage.set_pair(rdb, keys, HOST, CHROME_FP, "acknowledged", "", "bob")
    doc = client.get(f"/v1/hosts/{HOST}", headers=auth()).json
    assert [c["fingerprint"] for c in doc["chains"]] == [CHROME_FP]
    assert doc["chains"][0]["triage"]["state"] == "acknowledged"
    assert [c["fingerprint"] for c in doc["ignored_chains"]] == [IOS_FP]
    ignored = doc["ignored_chains"][0]
    assert ignored["triage"]["by"] == "alice" and ignored["triage"]["note"] == "test rig"
    assert ignored["reports"] == 2 and doc["reports"] == before["reports"]  # still counted
    chain = client.get(f"/v1/chains/{IOS_FP}", headers=auth()).json
    assert chain["hosts"] == [] and [h["hostname"] for h in chain["ignored_hosts"]] == [HOST]
    listed = client.get(f"/v1/chains?hostname={HOST}", headers=auth()).json["items"]
    assert {c["fingerprint"]: c["triage"]["state"] for c in listed} == {
        IOS_FP: "ignored", CHROME_FP: "acknowledged"}


def test_an_ignored_issuer_shows_on_every_pair_of_its_chains(client: FlaskClient,
                                                             rdb: redis.Redis,
                                                             keys: Keys) -> None:
    send_golden(client)
    triage.set_issuer(rdb, keys, CHROME_PINS[2], "ignored", "lab root", "carol")
    doc = client.get(f"/v1/hosts/{HOST}", headers=auth()).json
    assert [c["fingerprint"] for c in doc["ignored_chains"]] == [CHROME_FP]
    assert doc["ignored_chains"][0]["triage"] == {
        "state": "ignored", "note": "lab root", "by": "carol",
        "at": doc["ignored_chains"][0]["triage"]["at"], "via": "issuer", "pin": CHROME_PINS[2]}
    items = client.get("/v1/chains", headers=auth()).json["items"]
    states = {c["fingerprint"]: c["triage"]["state"] for c in items}
    assert states[CHROME_FP] == "ignored" and states[IOS_FP] == "open"
    audit = json.loads(rdb.lindex(keys.triage.audit, 0))  # type: ignore[arg-type]
    assert audit["target"] == "issuer" and audit["by"] == "carol"
