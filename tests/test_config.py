"""Settings.from_env: every variable it reads, every way a value can be wrong, and one message.

Each test hands from_env an explicit environ mapping, so nothing here depends on (or leaks
into) the process environment, except the one test of the os.environ default.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from collector import datadir
from collector.config import ConfigError, Settings, named_tokens

REPO = Path(__file__).resolve().parents[1]
ENV_EXAMPLE = REPO / "deploy" / "collector.env.example"


def _problems(environ: dict[str, str]) -> str:
    with pytest.raises(ConfigError) as info:
        Settings.from_env(environ)
    return str(info.value)


@pytest.fixture
def a_file(tmp_path: Path) -> str:
    path = tmp_path / "roots.pem"
    path.write_text("not read by from_env, only checked to exist\n")
    return str(path)


# --- defaults ----------------------------------------------------------------------------


def test_empty_environment_gives_the_documented_defaults() -> None:
    settings = Settings.from_env({})
    assert settings == Settings()
    assert settings.redis_url is None
    assert settings.data_dir == "./data"
    assert settings.api_tokens == ()
    assert settings.public_roots is None
    assert settings.allowed_hosts == ()
    assert settings.retention_days == 90
    assert settings.retention_seconds == 90 * 86400
    assert settings.max_body_bytes == 256 * 1024
    assert settings.device_secret is None
    assert settings.products_file is None
    assert settings.key_prefix == "pc"
    assert settings.host_cap == 200
    assert settings.spool_max_bytes == 512 * 1024 * 1024
    assert settings.redis_timeout_seconds == 0.5
    assert settings.rate_limit_per_minute == 0
    assert settings.trusted_proxies == ()


def test_variables_without_the_prefix_are_ignored() -> None:
    env = {"PATH": "/usr/bin", "HOME": "/root", "collector_host_cap": "x", "XCOLLECTOR_A": "1",
           "PIN_COLLECTOR_URL": "http://x", "REDIS_HOST": "nowhere"}
    assert Settings.from_env(env) == Settings()


def test_none_reads_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLLECTOR_HOST_CAP", "7")
    monkeypatch.setenv("REDIS_URL", "redis://localhost:6379/0")
    settings = Settings.from_env()
    assert settings.host_cap == 7
    assert settings.redis_url == "redis://localhost:6379/0"
    monkeypatch.setenv("COLLECTOR_NO_SUCH_THING", "1")
    with pytest.raises(ConfigError, match="COLLECTOR_NO_SUCH_THING is not a known setting"):
        Settings.from_env()


def test_settings_are_frozen() -> None:
    settings = Settings.from_env({})
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.host_cap = 1  # type: ignore[misc]


# --- REDIS_URL ---------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["redis://localhost:6379/0", "rediss://user:pw@redis.example:6380",
                                 "unix:///run/redis/redis.sock", "redis+cluster://10.0.0.1:7000"])
def test_redis_url_accepts_each_scheme(url: str) -> None:
    assert Settings.from_env({"REDIS_URL": url}).redis_url == url


def test_redis_url_is_stripped() -> None:
    assert Settings.from_env({"REDIS_URL": "  redis://h:1/2\n"}).redis_url == "redis://h:1/2"


@pytest.mark.parametrize("blank", ["", "   ", "\t\n"])
def test_blank_redis_url_means_unset(blank: str) -> None:
    assert Settings.from_env({"REDIS_URL": blank}).redis_url is None


@pytest.mark.parametrize("url", ["localhost:6379", "http://localhost:6379", "REDIS://h:1",
                                 "redis:/h", "tcp://h:6379", "/run/redis.sock"])
def test_redis_url_with_another_scheme_is_refused(url: str) -> None:
    message = _problems({"REDIS_URL": url})
    assert "REDIS_URL must start with redis://, rediss://, unix:// or redis+cluster://" in message


# --- strings -----------------------------------------------------------------------------


@pytest.mark.parametrize(("var", "field"), [("COLLECTOR_DATA_DIR", "data_dir"),
                                            ("COLLECTOR_DEVICE_SECRET", "device_secret"),
                                            ("COLLECTOR_KEY_PREFIX", "key_prefix")])
def test_non_empty_strings_are_read_and_stripped(var: str, field: str) -> None:
    assert getattr(Settings.from_env({var: "value"}), field) == "value"
    assert getattr(Settings.from_env({var: "  spaced value \n"}), field) == "spaced value"


@pytest.mark.parametrize("var", ["COLLECTOR_DATA_DIR", "COLLECTOR_DEVICE_SECRET",
                                 "COLLECTOR_KEY_PREFIX"])
@pytest.mark.parametrize("blank", ["", " ", "\t\n"])
def test_empty_strings_are_refused(var: str, blank: str) -> None:
    assert f"{var}: must not be empty" in _problems({var: blank})


# --- COLLECTOR_API_TOKENS ------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "tokens"), [
    ("one", ("one",)),
    ("one,two", ("one", "two")),
    (" one , two ,three ", ("one", "two", "three")),
    ("one,,two,", ("one", "two")),
    ("", ()),
    (" , ,", ()),
])
def test_api_tokens_are_comma_separated(raw: str, tokens: tuple[str, ...]) -> None:
    assert Settings.from_env({"COLLECTOR_API_TOKENS": raw}).api_tokens == tokens


def test_api_tokens_may_be_named_and_bare_ones_are_named_by_position() -> None:
    settings = Settings.from_env({"COLLECTOR_API_TOKENS": "alice:s3cret, bare-one ,bob: t:2"})
    assert settings.api_tokens == ("alice:s3cret", "bare-one", "bob: t:2")
    assert named_tokens(settings.api_tokens) == (
        ("alice", "s3cret"), ("token-2", "bare-one"), ("bob", "t:2"))


@pytest.mark.parametrize("entry", ["alice:", ":s3cret", "bad name:s3cret", "a/b:s3cret",
                                   "x" * 65 + ":s3cret"])
def test_bad_named_tokens_are_refused_without_showing_them(entry: str) -> None:
    message = _problems({"COLLECTOR_API_TOKENS": f"fine,{entry}"})
    assert "COLLECTOR_API_TOKENS: entry 2 " in message
    assert "s3cret" not in message


def test_the_generated_token_is_named_generated(tmp_path: Path) -> None:
    tokens, created = datadir.api_tokens(str(tmp_path), ())
    assert created and tokens == (("generated", created),)
    again, created_again = datadir.api_tokens(str(tmp_path), ())
    assert again == tokens and created_again is None
    assert datadir.api_tokens(str(tmp_path), ("a:b", "c")) == ((("a", "b"), ("token-2", "c")),
                                                              None)


# --- files -------------------------------------------------------------------------------


@pytest.mark.parametrize(("var", "field"), [("COLLECTOR_PUBLIC_ROOTS", "public_roots"),
                                            ("COLLECTOR_PRODUCTS_FILE", "products_file")])
def test_existing_files_are_accepted(var: str, field: str, a_file: str) -> None:
    assert getattr(Settings.from_env({var: a_file}), field) == a_file


@pytest.mark.parametrize("var", ["COLLECTOR_PUBLIC_ROOTS", "COLLECTOR_PRODUCTS_FILE"])
def test_missing_files_are_refused(var: str, tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.pem")
    assert f"{var}: file does not exist" in _problems({var: missing})


@pytest.mark.parametrize("var", ["COLLECTOR_PUBLIC_ROOTS", "COLLECTOR_PRODUCTS_FILE"])
def test_a_directory_is_not_a_file(var: str, tmp_path: Path) -> None:
    assert f"{var}: file does not exist" in _problems({var: str(tmp_path)})


@pytest.mark.parametrize("var", ["COLLECTOR_PUBLIC_ROOTS", "COLLECTOR_PRODUCTS_FILE"])
def test_an_empty_file_name_is_refused(var: str) -> None:
    assert f"{var}: file does not exist" in _problems({var: ""})


# --- COLLECTOR_ALLOWED_HOSTS ---------------------------------------------------------------


@pytest.mark.parametrize(("raw", "hosts"), [
    ("example.com", ("example.com",)),
    ("Example.COM., api.example.net", ("example.com", "api.example.net")),
    ("bücher.example", ("xn--bcher-kva.example",)),
    ("xn--bcher-kva.example", ("xn--bcher-kva.example",)),
    ("192.0.2.1, 2001:DB8:0:0::1", ("192.0.2.1", "2001:db8::1")),
    ("a.example,,b.example,", ("a.example", "b.example")),
    ("", ()),
])
def test_allowed_hosts_are_normalised(raw: str, hosts: tuple[str, ...]) -> None:
    assert Settings.from_env({"COLLECTOR_ALLOWED_HOSTS": raw}).allowed_hosts == hosts


@pytest.mark.parametrize("bad", ["under_score.example", "-lead.example", "a..b",
                                 "sp ace.example", "x" * 64 + ".example", "xn--zz.example",
                                 "a" * 254])
def test_bad_hostnames_are_refused_by_name(bad: str) -> None:
    message = _problems({"COLLECTOR_ALLOWED_HOSTS": f"good.example,{bad}"})
    assert f"COLLECTOR_ALLOWED_HOSTS: {bad!r} is not a hostname" in message
    assert "good.example" not in message


# --- integers ----------------------------------------------------------------------------

POSITIVE_INTS = [("COLLECTOR_RETENTION_DAYS", "retention_days"),
                 ("COLLECTOR_MAX_BODY_BYTES", "max_body_bytes"),
                 ("COLLECTOR_HOST_CAP", "host_cap"),
                 ("COLLECTOR_SPOOL_MAX_BYTES", "spool_max_bytes")]


@pytest.mark.parametrize(("var", "field"), POSITIVE_INTS)
@pytest.mark.parametrize(("raw", "value"), [("1", 1), ("30", 30), (" 42 ", 42),
                                            ("1048576", 1048576)])
def test_positive_integers_are_read(var: str, field: str, raw: str, value: int) -> None:
    assert getattr(Settings.from_env({var: raw}), field) == value


def test_retention_seconds_follows_retention_days() -> None:
    assert Settings.from_env({"COLLECTOR_RETENTION_DAYS": "7"}).retention_seconds == 7 * 86400


@pytest.mark.parametrize(("var", "field"), POSITIVE_INTS)
@pytest.mark.parametrize("raw", ["0", "-1", "-90"])
def test_zero_and_negative_integers_are_refused(var: str, field: str, raw: str) -> None:
    assert f"{var}: must be a positive integer" in _problems({var: raw})


@pytest.mark.parametrize("var", [v for v, _ in POSITIVE_INTS] + ["COLLECTOR_RATE_LIMIT_PER_MINUTE"])
@pytest.mark.parametrize("raw", ["", " ", "abc", "1.5", "1e3", "0x10", "ten", "12 days"])
def test_non_integers_are_refused(var: str, raw: str) -> None:
    message = _problems({var: raw})
    assert re.search(rf"{var}: invalid literal for int\(\)", message), message


@pytest.mark.parametrize(("raw", "value"), [("0", 0), ("60", 60), ("100000", 100000)])
def test_rate_limit_per_minute_is_an_integer_with_zero_for_off(raw: str, value: int) -> None:
    settings = Settings.from_env({"COLLECTOR_RATE_LIMIT_PER_MINUTE": raw})
    assert settings.rate_limit_per_minute == value


@pytest.mark.parametrize("raw", ["-1", "-3", " -60 "])
def test_a_negative_rate_limit_is_refused(raw: str) -> None:
    message = _problems({"COLLECTOR_RATE_LIMIT_PER_MINUTE": raw})
    assert "COLLECTOR_RATE_LIMIT_PER_MINUTE: must be 0 (off) or a positive integer" in message


# --- COLLECTOR_TRUSTED_PROXIES -------------------------------------------------------------


@pytest.mark.parametrize(("raw", "networks"), [
    ("127.0.0.1/32", ("127.0.0.1/32",)),
    ("10.0.0.0/8, 192.168.1.0/24", ("10.0.0.0/8", "192.168.1.0/24")),
    ("127.0.0.1,::1", ("127.0.0.1/32", "::1/128")),  # a bare address is one host
    ("2001:DB8:0::/32", ("2001:db8::/32",)),
    ("0.0.0.0/0", ("0.0.0.0/0",)),
    (" 10.0.0.0/8 ,, ", ("10.0.0.0/8",)),
    ("", ()),
])
def test_trusted_proxies_are_cidrs(raw: str, networks: tuple[str, ...]) -> None:
    assert Settings.from_env({"COLLECTOR_TRUSTED_PROXIES": raw}).trusted_proxies == networks


@pytest.mark.parametrize("bad", ["10.0.0.0/33", "::1/129", "10.0.0", "proxy.example", "10.0.0.0/",
                                 "fe80::1%eth0", "10.0.0.0/8/8", "1.2.3.4-1.2.3.9", "*"])
def test_a_bad_cidr_is_refused_by_name(bad: str) -> None:
    message = _problems({"COLLECTOR_TRUSTED_PROXIES": f"10.0.0.0/8,{bad}"})
    assert f"COLLECTOR_TRUSTED_PROXIES: {bad!r} is not a CIDR network" in message
    assert "'10.0.0.0/8'" not in message


def test_host_bits_are_refused_with_the_network_meant() -> None:
    message = _problems({"COLLECTOR_TRUSTED_PROXIES": "10.0.0.1/8, 2001:db8::1/32, nope"})
    assert ("COLLECTOR_TRUSTED_PROXIES: '10.0.0.1/8' has host bits set (did you mean "
            "10.0.0.0/8?), '2001:db8::1/32' has host bits set (did you mean 2001:db8::/32?), "
            "'nope' is not a CIDR network") in message


# --- COLLECTOR_REDIS_TIMEOUT_SECONDS -------------------------------------------------------


@pytest.mark.parametrize(("raw", "value"), [("0.5", 0.5), ("2", 2.0), (" 0.05 ", 0.05),
                                            ("1e-1", 0.1)])
def test_redis_timeout_is_a_positive_number(raw: str, value: float) -> None:
    settings = Settings.from_env({"COLLECTOR_REDIS_TIMEOUT_SECONDS": raw})
    assert settings.redis_timeout_seconds == value


@pytest.mark.parametrize("raw", ["0", "0.0", "-0.5", "-inf", "inf", "Infinity", "nan", "NaN"])
def test_redis_timeout_must_be_positive_and_finite(raw: str) -> None:
    message = _problems({"COLLECTOR_REDIS_TIMEOUT_SECONDS": raw})
    assert "COLLECTOR_REDIS_TIMEOUT_SECONDS: must be a positive number" in message


@pytest.mark.parametrize("raw", ["", "soon", "1s", "0,5"])
def test_redis_timeout_must_be_a_number(raw: str) -> None:
    message = _problems({"COLLECTOR_REDIS_TIMEOUT_SECONDS": raw})
    assert "COLLECTOR_REDIS_TIMEOUT_SECONDS: could not convert string to float" in message


# --- unknown names and many problems -------------------------------------------------------


@pytest.mark.parametrize("var", ["COLLECTOR_HOSTCAP", "COLLECTOR_REDIS_URL", "COLLECTOR_",
                                 "COLLECTOR_RETENTION", "COLLECTOR_DATA_DIRS"])
def test_an_unknown_collector_variable_is_an_error(var: str) -> None:
    assert f"{var} is not a known setting" in _problems({var: "anything"})


def test_an_unknown_variable_is_an_error_even_when_empty() -> None:
    assert "COLLECTOR_TYPO is not a known setting" in _problems({"COLLECTOR_TYPO": ""})


def test_every_problem_is_named_in_one_message(tmp_path: Path) -> None:
    env = {
        "REDIS_URL": "http://localhost",
        "COLLECTOR_HOST_CAP": "0",
        "COLLECTOR_RETENTION_DAYS": "ninety",
        "COLLECTOR_PUBLIC_ROOTS": str(tmp_path / "missing.pem"),
        "COLLECTOR_ALLOWED_HOSTS": "bad_host",
        "COLLECTOR_KEY_PREFIX": " ",
        "COLLECTOR_REDIS_TIMEOUT_SECONDS": "nan",
        "COLLECTOR_RETENTON_DAYS": "90",
        "COLLECTOR_DATA_DIR": "/fine/as/is",
    }
    with pytest.raises(ConfigError) as info:
        Settings.from_env(env)
    message = str(info.value)
    assert message.startswith("invalid configuration: ")
    problems = message.removeprefix("invalid configuration: ").split("; ")
    assert problems == sorted(problems)
    assert len(problems) == 8
    for expected in ["REDIS_URL must start with", "COLLECTOR_HOST_CAP: must be a positive",
                     "COLLECTOR_RETENTION_DAYS: invalid literal", "COLLECTOR_PUBLIC_ROOTS: file",
                     "COLLECTOR_ALLOWED_HOSTS: 'bad_host' is not a hostname",
                     "COLLECTOR_KEY_PREFIX: must not be empty",
                     "COLLECTOR_REDIS_TIMEOUT_SECONDS: must be a positive number",
                     "COLLECTOR_RETENTON_DAYS is not a known setting"]:
        assert sum(p.startswith(expected) for p in problems) == 1, (expected, problems)
    assert "COLLECTOR_DATA_DIR" not in message


def test_a_full_valid_environment(a_file: str) -> None:
    env = {
        "REDIS_URL": "rediss://redis.example:6380/1",
        "COLLECTOR_DATA_DIR": "/var/lib/pin-collector",
        "COLLECTOR_API_TOKENS": "t1,t2",
        "COLLECTOR_PUBLIC_ROOTS": a_file,
        "COLLECTOR_ALLOWED_HOSTS": "Example.com",
        "COLLECTOR_RETENTION_DAYS": "30",
        "COLLECTOR_MAX_BODY_BYTES": "65536",
        "COLLECTOR_DEVICE_SECRET": "s3cret",
        "COLLECTOR_PRODUCTS_FILE": a_file,
        "COLLECTOR_KEY_PREFIX": "staging",
        "COLLECTOR_HOST_CAP": "50",
        "COLLECTOR_SPOOL_MAX_BYTES": "1048576",
        "COLLECTOR_REDIS_TIMEOUT_SECONDS": "1.5",
        "COLLECTOR_RATE_LIMIT_PER_MINUTE": "600",
        "COLLECTOR_TRUSTED_PROXIES": "10.0.0.0/8,::1",
    }
    assert Settings.from_env(env) == Settings(
        redis_url="rediss://redis.example:6380/1", data_dir="/var/lib/pin-collector",
        api_tokens=("t1", "t2"), public_roots=a_file, allowed_hosts=("example.com",),
        retention_days=30, max_body_bytes=65536, device_secret="s3cret", products_file=a_file,
        key_prefix="staging", host_cap=50, spool_max_bytes=1048576, redis_timeout_seconds=1.5,
        rate_limit_per_minute=600, trusted_proxies=("10.0.0.0/8", "::1/128"))


# --- the shipped example environment file --------------------------------------------------


def _example_lines() -> list[tuple[bool, str, str]]:
    out = []
    for line in ENV_EXAMPLE.read_text().splitlines():
        match = re.fullmatch(r"(#?)((?:COLLECTOR_|REDIS_URL)\w*)=(.*)", line)
        if match:
            out.append((not match[1], match[2], match[3]))
    return out


def test_the_example_env_file_names_every_setting() -> None:
    names = {name for _, name, _ in _example_lines()}
    fields = {f.name for f in dataclasses.fields(Settings)} - {"redis_url"}
    assert names == {"REDIS_URL"} | {"COLLECTOR_" + f.upper() for f in fields}


def test_the_example_env_file_states_the_defaults() -> None:
    active = {name: value for on, name, value in _example_lines() if on}
    assert Settings.from_env(active) == Settings()


# --- alerts (SPEC section 9) -----------------------------------------------------------------


def test_alert_defaults() -> None:
    s = Settings.from_env({})
    assert (s.alert_webhooks, s.alert_slack_webhooks, s.alert_webhook_secret) == ((), (), None)
    assert (s.alert_cooldown_seconds, s.alert_spike_min) == (3600, 50)
    assert s.alert_rules == ("new-public-trust-chain", "enforced-failures", "new-chain", "spike",
                             "pins-expiring")
    assert s.alert_pin_expiry_days == 30
    assert s.public_url == "http://127.0.0.1:8000"


def test_alert_settings_are_read() -> None:
    s = Settings.from_env({
        "COLLECTOR_ALERT_WEBHOOKS": " https://u:p@hooks.example/a?k=1 , http://10.0.0.1:8080/b ",
        "COLLECTOR_ALERT_SLACK_WEBHOOKS": "https://hooks.slack.example/services/T/B/x",
        "COLLECTOR_ALERT_WEBHOOK_SECRET": "s3cret",
        "COLLECTOR_ALERT_COOLDOWN_SECONDS": "60",
        "COLLECTOR_ALERT_SPIKE_MIN": "5",
        "COLLECTOR_ALERT_RULES": "spike, new-chain",
        "COLLECTOR_PUBLIC_URL": "https://pins.example.com/",
    })
    assert s.alert_webhooks == ("https://u:p@hooks.example/a?k=1", "http://10.0.0.1:8080/b")
    assert s.alert_slack_webhooks == ("https://hooks.slack.example/services/T/B/x",)
    assert (s.alert_webhook_secret, s.alert_cooldown_seconds, s.alert_spike_min) == (
        "s3cret", 60, 5)
    assert s.alert_rules == ("spike", "new-chain")
    assert s.public_url == "https://pins.example.com"


@pytest.mark.parametrize("raw", ["", "none", " , "])
def test_every_rule_can_be_switched_off(raw: str) -> None:
    assert Settings.from_env({"COLLECTOR_ALERT_RULES": raw}).alert_rules == ()


def test_an_unknown_rule_is_refused_by_name() -> None:
    message = _problems({"COLLECTOR_ALERT_RULES": "new-chain,spikes,none"})
    assert "COLLECTOR_ALERT_RULES" in message and "'spikes'" in message and "'none'" in message


@pytest.mark.parametrize("var", ["COLLECTOR_ALERT_COOLDOWN_SECONDS", "COLLECTOR_ALERT_SPIKE_MIN"])
@pytest.mark.parametrize("raw", ["0", "-5", "1.5", "soon"])
def test_alert_numbers_must_be_positive_integers(var: str, raw: str) -> None:
    assert var in _problems({var: raw})


@pytest.mark.parametrize("bad", [
    "ftp://user:hunter2@files.example/x", "https://", "hooks.example/path-hunter2",
    "javascript:hunter2", "https://user:hunter2@:80/", "http://h:hunter2port/x",
])
@pytest.mark.parametrize("var", ["COLLECTOR_ALERT_WEBHOOKS", "COLLECTOR_ALERT_SLACK_WEBHOOKS",
                                 "COLLECTOR_PUBLIC_URL"])
def test_bad_urls_are_refused_without_their_credentials(var: str, bad: str) -> None:
    message = _problems({var: bad})
    assert var in message
    assert "hunter2" not in message


def test_bad_webhooks_are_named_by_position_and_all_reported() -> None:
    message = _problems({
        "COLLECTOR_ALERT_WEBHOOKS": "https://ok.example/a,ftp://x:hunter2@y/,https://ok2.example",
        "COLLECTOR_ALERT_SLACK_WEBHOOKS": "nope-hunter2",
        "COLLECTOR_ALERT_COOLDOWN_SECONDS": "0",
        "COLLECTOR_PUBLIC_URL": "pins.example.com",
    })
    assert "COLLECTOR_ALERT_WEBHOOKS: entry 2 " in message
    assert "COLLECTOR_ALERT_SLACK_WEBHOOKS: entry 1 " in message
    assert "COLLECTOR_ALERT_COOLDOWN_SECONDS" in message and "COLLECTOR_PUBLIC_URL" in message
    assert "hunter2" not in message


def test_alert_destinations_and_secret_stay_out_of_repr() -> None:
    s = Settings(alert_webhooks=("https://u:hunter2@h.example/",), alert_webhook_secret="hunter2",
                 alert_slack_webhooks=("https://hooks.example/services/hunter2",))
    assert "hunter2" not in repr(s)
