"""Readable tables for the CLI, and the CSV/NDJSON export of host and chain aggregates.

CSV cells that a spreadsheet would run as a formula (leading = + - @, tab or CR) get a
leading apostrophe: hostnames are safe, but labels come from operator files and report data.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from typing import IO, Any

EXPORT_COLUMNS = ("type", "hostname", "fingerprint", "reports", "devices", "chains", "hosts",
                  "classification", "label", "first_seen", "last_seen")
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA) else text


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    cells = [[("-" if v is None else str(v)) for v in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(line.rstrip() for line in lines)


def summary(doc: dict[str, Any]) -> str:
    losing = doc.get("hosts_losing_service_now", [])
    out = [f"LOSING SERVICE NOW: {doc.get('devices_failing_now', 0)} devices on {len(losing)} "
           "hosts (enforcing clients failing on public-trust chains)"]
    if losing:
        out += [table(("hostname", "reports", "devices"),
                      [(h["hostname"], h["reports"], h["devices"]) for h in losing])]
    out += [f"At risk if enforced: {doc.get('devices_at_risk', 0)} report-only devices", ""]
    out += [table(("reports", "hosts", "chains", "devices", "test_reports"),
                  [(doc["reports"], doc["hosts"], doc["chains"], doc["devices"],
                    _tests(doc))]), ""]
    out += ["By classification:", table(("classification", "reports"),
                                        sorted(doc["by_classification"].items())), ""]
    out += ["Top hosts:", table(("hostname", "reports"),
                                [(h["hostname"], h["reports"]) for h in doc["top_hosts"]]), ""]
    out += ["Top chains:", table(("fingerprint", "reports", "classification", "label"),
                                 [(c["fingerprint"], c["reports"], c["classification"],
                                   c.get("label")) for c in doc["top_chains"]])]
    return "\n".join(out)


def _tests(doc: dict[str, Any]) -> str:
    """Test reports in the window, and all-time when that differs (or the window cannot tell)."""
    window, all_time = doc.get("test_reports"), doc.get("test_reports_all_time", 0)
    if window == all_time:
        return str(all_time)
    return f"{'-' if window is None else window} ({all_time} all-time)"


def hosts(doc: dict[str, Any]) -> str:
    text = table(("hostname", "reports", "devices", "chains", "first_seen", "last_seen"),
                 [(h["hostname"], h["reports"], h["devices"], h["chains"], h["first_seen"],
                   h["last_seen"]) for h in doc["items"]])
    if doc.get("next_cursor"):
        text += f"\n(more: --cursor {doc['next_cursor']})"
    return text


def host(doc: dict[str, Any]) -> str:
    risk = doc["hard_fail_readiness"]
    more = doc.get("more_chains") or {}
    out = [f"{doc['hostname']}: {doc['reports']} reports from {doc['devices']} devices, "
           f"{doc['first_seen']} .. {doc['last_seen']}; test reports: {_tests(doc)}",
           f"LOSING SERVICE NOW: {risk.get('devices_failing_now', 0)} enforcing devices fail "
           f"on public-trust chains ({risk.get('reports_failing_now', 0)} reports)",
           f"at risk if enforced: {risk['devices_at_risk']} report-only devices "
           f"({risk.get('reports_at_risk', 0)} reports)"]
    if risk.get("by_app"):
        out += ["", "By app:", table(
            ("app_id", "app_version", "platform", "failing_reports", "failing_devices",
             "at_risk_reports", "at_risk_devices"),
            [(a["app_id"], a["app_version"], a["platform"], a["reports_failing_now"],
              a["devices_failing_now"], a["reports_at_risk"], a["devices_at_risk"])
             for a in risk["by_app"]])]
    out += ["", "Chains:",
            table(("fingerprint", "reports", "devices", "classification", "label", "failing",
                   "at_risk", "first_seen", "last_seen", "triage"),
                  [(c["fingerprint"], c["reports"], c.get("devices"), c["classification"],
                    c.get("label"), c.get("devices_failing_now"), c.get("devices_at_risk"),
                    c.get("first_seen"), c.get("last_seen"), _triage(c.get("triage")))
                   for c in doc["chains"]])]
    if doc.get("ignored_chains"):
        out += ["", "Ignored chains (triaged; still counted above):",
                table(("fingerprint", "reports", "classification", "triage", "note"),
                      [(c["fingerprint"], c["reports"], c["classification"],
                        _triage(c.get("triage")), (c.get("triage") or {}).get("note"))
                       for c in doc["ignored_chains"]])]
    if more.get("reports"):
        count = more.get("chains")
        out.append(f"… {'' if count is None else f'{count} '}more chains "
                   f"({more['reports']} reports; past the per-host cap, unclassified)")
    out += ["", "Apps:",
            table(("app_id", "app_version", "platform", "reports"),
                  [(a["app_id"], a["app_version"], a["platform"], a["reports"])
                   for a in doc["apps"]]), "",
            "Enforcement: " + ", ".join(f"{k}={v}" for k, v in doc["enforcement"].items()),
            "Validation results: " + ", ".join(
                f"{k}={v}" for k, v in sorted(doc["validation_results"].items())), "",
            "Pin sets:",
            table(("reports", "pins", "expiration", "backup", "public_key", "days_left"),
                  [(p["reports"], " ".join(p["pins"]) or "(other)", p["expiration"],
                    p.get("has_backup_pin"), p.get("matches_public_trust_key"),
                    p.get("days_to_expiry")) for p in doc["pin_sets"]])]
    for c in doc["chains"]:
        if c.get("pins_that_would_pass"):
            out += ["", f"Pins that would pass chain {c['fingerprint'][:16]}…:",
                    table(("position", "pin"), [(p["position"], p["pin"])
                                                for p in c["pins_that_would_pass"]])]
    out += _recommended(doc.get("recommended_pins"))
    return "\n".join(out)


def _recommended(rec: dict[str, Any] | None) -> list[str]:
    if not rec:
        return []
    out = ["", "Recommended pin set" + (f" (expiration hint {rec['expiration']})"
                                        if rec.get("expiration") else "") + ":"]
    if rec.get("pins"):
        out.append(table(("role", "pin", "why"),
                         [(p["role"], p["pin"], p["why"]) for p in rec["pins"]]))
    if rec.get("why"):
        out.append(f"note: {rec['why']}")
    return out


def chains(doc: dict[str, Any]) -> str:
    text = table(("fingerprint", "reports", "hosts", "classification", "label", "first_seen",
                  "last_seen"),
                 [(c["fingerprint"], c["reports"], c["hosts"], c["classification"],
                   c.get("label"), c["first_seen"], c["last_seen"]) for c in doc["items"]])
    if doc.get("next_cursor"):
        text += f"\n(more: --cursor {doc['next_cursor']})"
    return text


def chain(doc: dict[str, Any]) -> str:
    more = doc.get("more_hosts") or {}
    out = [f"chain {doc['fingerprint']}: {doc['classification']}"
           + (f" ({doc['label']})" if doc.get("label") else "") + " (the chain's own class)",
           f"{doc['reports']} reports, {doc['first_seen']} .. {doc['last_seen']}", "",
           "Hosts (class of the chain on each host):",
           table(("hostname", "reports", "classification", "label"),
                 [(h["hostname"], h["reports"], h.get("classification"), h.get("label"))
                  for h in doc["hosts"]])]
    if more.get("reports"):
        out.append(f"… more hosts ({more['reports']} reports; past the per-chain host cap)")
    if doc.get("ignored_hosts"):
        out += ["", "Hosts where this chain is ignored (triaged; still counted):",
                table(("hostname", "reports", "triage", "note"),
                      [(h["hostname"], h["reports"], _triage(h.get("triage")),
                        (h.get("triage") or {}).get("note")) for h in doc["ignored_hosts"]])]
    out += ["", "Certificates (leaf first):",
            table(("subject", "issuer", "not_after", "spki_sha256"),
                  [(c["subject"], c["issuer"], c["not_after"], c["spki_sha256"])
                   for c in doc["certificates"]])]
    if doc.get("pins_that_would_pass"):
        out += ["", "Pins that would pass:", table(
            ("position", "pin"), [(p["position"], p["pin"]) for p in doc["pins_that_would_pass"]])]
    return "\n".join(out)


def _triage(t: dict[str, Any] | None) -> str:
    if not t or t.get("via") is None:
        return "open"
    who = f" by {t['by']}" if t.get("by") else ""
    via = " (issuer)" if t.get("via") == "issuer" else ""
    return f"{t['state']}{via}{who}"


def alerts(doc: dict[str, Any]) -> str:
    text = table(("fired_at", "rule", "hostname", "fingerprint", "classification", "reports",
                  "devices"),
                 [(a.get("fired_at"), a.get("rule"), a.get("hostname"),
                   (a.get("fingerprint") or "")[:16] or None, a.get("classification"),
                   a.get("reports"), a.get("devices")) for a in doc["items"]])
    if doc.get("next_cursor"):
        text += f"\n(more: --cursor {doc['next_cursor']})"
    return text


def audit(doc: dict[str, Any]) -> str:
    text = table(("at", "by", "target", "state", "note"),
                 [(e.get("at"), e.get("by"),
                   f"{e['hostname']} {e['fingerprint'][:16]}" if e.get("target") == "pair"
                   else f"issuer {e.get('pin')}", e.get("state"), e.get("note"))
                  for e in doc["items"]])
    if doc.get("next_cursor"):
        text += f"\n(more: --cursor {doc['next_cursor']})"
    return text


def triage(doc: dict[str, Any]) -> str:
    t = doc["triage"]
    what = (f"{doc['hostname']} {doc['fingerprint']}" if "fingerprint" in doc
            else f"issuer {doc['pin']}")
    return f"{what}: {t['state']} by {t['by']} at {t['at']}" + (
        f" ({t['note']})" if t.get("note") else "")


def export_rows(host_items: Iterable[dict[str, Any]],
                chain_items: Iterable[dict[str, Any]]) -> Iterable[dict[str, Any]]:
    for h in host_items:
        yield {"type": "host", **{k: h.get(k) for k in EXPORT_COLUMNS[1:]}}
    for c in chain_items:
        yield {"type": "chain", **{k: c.get(k) for k in EXPORT_COLUMNS[1:]}}


def write_export(rows: Iterable[dict[str, Any]], fmt: str, out: IO[str]) -> int:
    count = 0
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180; quotes any CR or LF
        writer.writerow(EXPORT_COLUMNS)
        for row in rows:
            writer.writerow([neutralise(row.get(k)) for k in EXPORT_COLUMNS])
            count += 1
    else:
        for row in rows:
            out.write(json.dumps({k: v for k, v in row.items() if v is not None},
                                 separators=(",", ":"), ensure_ascii=False) + "\n")
            count += 1
    return count
