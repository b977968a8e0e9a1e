"""deploy/prometheus: every series an alert rule reads is one the collector exports.

promtool checks the syntax and runs the rules' unit tests (test_lint.py); it cannot know
whether a metric name is real. Here every ``pin_collector_*`` name in every expression must
be a series of a real collector's /metrics or a declared metric of ``collector.web.metrics``
(counters with no sample yet have no line), and label matchers must use real label names
and values.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from collector.web import metrics
from tests.deploy.files import DEPLOY
from tests.helpers import example, flush, post

RULES = yaml.safe_load((DEPLOY / "prometheus/pin-collector.rules.yaml").read_text())
NAME = re.compile(r"\bpin_collector_[a-z_]+")
MATCHER = re.compile(r"(pin_collector_[a-z_]+)\{([^}]*)\}")


def exported(client: FlaskClient) -> dict[str, set[str]]:
    """series name -> label names, from a scrape and from the declared metrics."""
    assert post(client, example("trustkit-ios.json")).status_code == 204
    assert post(client, b"{").status_code == 400
    flush(client)
    out: dict[str, set[str]] = {}
    text = client.get("/metrics").get_data(as_text=True)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, set()).update(sample.labels)
    registry: Any = metrics.REGISTRY
    for name, collector in registry._names_to_collectors.items():
        labels = set(getattr(collector, "_labelnames", ()))
        if collector.__class__.__name__ == "Histogram":
            labels.add("le")
        out.setdefault(name, set()).update(labels)
    return out


def test_every_rule_reads_real_series(client: FlaskClient) -> None:
    series = exported(client)
    rules = [r for g in RULES["groups"] for r in g["rules"]]
    assert len(rules) >= 10
    used: set[str] = set()
    for rule in rules:
        names = set(NAME.findall(rule["expr"]))
        assert names or "up{" in rule["expr"], rule["alert"]
        unknown = names - set(series)
        assert not unknown, (rule["alert"], unknown)
        used |= names
        for name, matchers in MATCHER.findall(rule["expr"]):
            for matcher in filter(None, (m.strip() for m in matchers.split(","))):
                label = re.split(r"[=!~]", matcher, maxsplit=1)[0]
                assert label in series[name], (rule["alert"], name, label)
        assert rule["labels"]["severity"] in ("page", "warning", "info")
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
    # the figures an operator must watch all have a rule
    assert {"pin_collector_degraded", "pin_collector_spool_bytes",
            "pin_collector_spool_refused_total", "pin_collector_dead_lettered_total",
            "pin_collector_rate_limit_fallback_total",
            "pin_collector_alerts_dropped_total"} <= used


def test_label_values_in_rules_are_values_the_collector_uses() -> None:
    text = "\n".join(r["expr"] for g in RULES["groups"] for r in g["rules"])
    for reason in re.findall(r'reason=~"([^"]+)"', text):
        for value in reason.split("|"):
            assert metrics.reason_label(value) == value, value
    for endpoint in re.findall(r'endpoint="([^"]+)"', text):
        assert endpoint == "api.post_report"
