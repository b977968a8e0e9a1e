"""The server-side session records: one key per session, named by a digest, 12 h idle TTL."""

from __future__ import annotations

import redis

from collector.aggregates.keys import Keys
from collector.web.dashboard.sessions import IDLE, SessionStore, session_secret

SECRET = session_secret(b"device-secret")


def store(rdb: redis.Redis, keys: Keys, tokens: tuple[tuple[str, str], ...] = (
        ("alice", "tok-a"), ("bob", "tok-b"))) -> SessionStore:
    return SessionStore(rdb, keys, SECRET, tokens)


def test_start_touch_end(rdb: redis.Redis, keys: Keys) -> None:
    s = store(rdb, keys)
    sid = s.start("alice")
    key = keys.sessions.session(sid)
    assert sid not in key and rdb.ttl(key) == int(IDLE.total_seconds())
    assert b"tok-a" not in rdb.get(key)  # type: ignore[operator]
    analyst = s.touch(sid)
    assert analyst is not None and analyst.name == "alice"
    s.end(sid)
    assert s.touch(sid) is None and rdb.exists(key) == 0


def test_malformed_ids_and_records_open_nothing(rdb: redis.Redis, keys: Keys) -> None:
    s = store(rdb, keys)
    for sid in ("", "short", "x" * 43 + "\n", "../" * 20):
        assert s.touch(sid) is None
    sid = s.start("bob")
    for junk in (b"not json", b"[]", b'{"name": 3}', b'{"name": "bob", "tag": "forged"}'):
        rdb.set(keys.sessions.session(sid), junk)
        assert s.touch(sid) is None
    assert list(rdb.scan_iter("*")) == []  # refused records are removed


def test_a_session_of_a_replaced_token_ends(rdb: redis.Redis, keys: Keys) -> None:
    sid = store(rdb, keys).start("alice")
    assert store(rdb, keys, (("alice", "new-token"),)).touch(sid) is None
    assert store(rdb, keys, (("bob", "tok-b"),)).touch(sid) is None


def test_the_signing_key_is_derived_not_the_secret() -> None:
    assert session_secret(b"a") != session_secret(b"b")
    assert session_secret(b"a") == session_secret(b"a") and b"a" not in session_secret(b"a")
