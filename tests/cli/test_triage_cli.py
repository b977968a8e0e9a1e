"""`pin-collector alerts` and `pin-collector triage`: through the API, alerts from Redis too."""

from __future__ import annotations

import json

import pytest
import redis
from flask.testing import FlaskClient

from collector.aggregates.keys import Keys
from collector.cli.main import main
from collector.server.embedded import RedisServer
from tests.helpers import CHROME_FP, CHROME_PINS, IOS_FP, TOKEN, send_golden

HOST = "api.example.com"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_triage_through_the_api_records_the_token_name(
        client: FlaskClient, served: str, redis_server: RedisServer,
        capsys: pytest.CaptureFixture[str]) -> None:
    send_golden(client)
    api = ["--url", served, "--token", TOKEN]
    code, out, _ = run(capsys, "triage", "pair", HOST, IOS_FP.upper(), "--state", "ignored",
                       "--note", "our test rig", *api)
    assert code == 0, out
    assert f"{HOST} {IOS_FP}: ignored by token-1" in out and "our test rig" in out
    code, out, _ = run(capsys, "triage", "issuer", CHROME_PINS[1], "--state", "acknowledged",
                       "--json", *api)
    assert code == 0 and json.loads(out)["triage"]["by"] == "token-1"
    for src in (api, ["--redis-url", redis_server.url]):
        code, out, _ = run(capsys, "triage", "audit", *src)
        assert code == 0 and "our test rig" in out and f"issuer {CHROME_PINS[1]}" in out
        code, out, _ = run(capsys, "triage", "audit", "--json", "--limit", "1", *src)
        assert len(json.loads(out)["items"]) == 1 and json.loads(out)["next_cursor"]
        code, out, _ = run(capsys, "host", HOST, *src)
        assert code == 0 and "Ignored chains" in out and "ignored by token-1" in out
        code, out, _ = run(capsys, "chain", IOS_FP, *src)
        assert code == 0 and "Hosts where this chain is ignored" in out


def test_triage_is_refused_without_the_api_and_checked_by_it(
        served: str, redis_server: RedisServer, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "triage", "pair", HOST, IOS_FP, "--state", "ignored",
                       "--redis-url", redis_server.url)
    assert code == 2 and "through the API" in err
    code, _, err = run(capsys, "triage", "pair", HOST, IOS_FP, "--state", "ignored",
                       "--note", "x" * 501, "--url", served, "--token", TOKEN)
    assert code == 2 and "422" in err
    code, _, err = run(capsys, "triage", "issuer", "not-a-pin", "--state", "ignored",
                       "--url", served, "--token", TOKEN)
    assert code == 1 and "404" in err
    with pytest.raises(SystemExit):
        main(["triage", "pair", HOST, IOS_FP, "--state", "closed"])


def test_alerts_through_the_api_and_redis(served: str, redis_server: RedisServer,
                                          rdb: redis.Redis, keys: Keys,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    for n in range(3):
        rdb.xadd(keys.alerts.log, {"alert": json.dumps({
            "id": f"{n:032x}", "rule": "new-chain", "hostname": HOST, "fingerprint": CHROME_FP,
            "classification": "unknown", "label": None, "reports": n, "devices": 1,
            "first_seen": "2026-01-01T00:00:00Z", "fired_at": f"2026-01-01T00:00:0{n}Z",
            "url": f"http://127.0.0.1:8000/hosts/{HOST}"})})
    for src in (["--url", served, "--token", TOKEN], ["--redis-url", redis_server.url]):
        code, out, _ = run(capsys, "alerts", *src)
        assert code == 0 and "new-chain" in out and CHROME_FP[:16] in out
        assert out.index("2026-01-01T00:00:02Z") < out.index("2026-01-01T00:00:00Z")
        code, out, _ = run(capsys, "alerts", "--json", "--limit", "2", *src)
        doc = json.loads(out)
        assert [a["reports"] for a in doc["items"]] == [2, 1] and doc["next_cursor"]
        code, out, _ = run(capsys, "alerts", "--json", "--cursor", doc["next_cursor"], *src)
        assert [a["reports"] for a in json.loads(out)["items"]] == [0]
        code, _, err = run(capsys, "alerts", "--cursor", "bogus", *src)
        assert code == 2 and err
