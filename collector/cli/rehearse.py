"""`rehearse` and `inventory`: test a certificate against the pins deployed in the field
before it is served, and list those pins (SPEC section 12).

``pin-collector rehearse CHAIN.pem --host H`` (or ``--connect HOST:PORT`` to take the chain a
server sends now) asks the collector, through the API (``--url``/``--token``) or Redis
(``--redis-url``), which app builds seen in the window would accept the chain. Exit status, for
a release pipeline: 0 when every build seen accepts it, 1 when any would refuse it (or the
host was never seen), 2 on usage, input or connection problems.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collector.aggregates.read.context import ReadContext
    from collector.aggregates.read.windows import Window

PEM_TYPE = "application/x-pem-file"


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    """Register ``rehearse`` and ``inventory`` (``common``: the read commands' options)."""
    r = sub.add_parser("rehearse", parents=[common],
                       help="would the app builds seen in the field accept this chain? "
                            "(exit 1 if any would refuse it)")
    r.add_argument("chain", nargs="?", metavar="CHAIN.pem",
                   help="PEM file of 1 to 10 certificates, leaf first")
    r.add_argument("--host", required=True, help="the hostname the chain will serve")
    r.add_argument("--connect", metavar="HOST:PORT",
                   help="take the chain a live server sends instead of a file")
    r.add_argument("--timeout", type=float, default=10.0, help="for --connect")
    r.set_defaults(func=rehearse)
    i = sub.add_parser("inventory", parents=[common],
                       help="pin sets deployed in the field, per app build")
    i.add_argument("--host", required=True)
    i.set_defaults(func=inventory)


def _pem(args: argparse.Namespace) -> bytes:
    """The candidate chain as PEM text, from the file or the live server; checked strictly."""
    from collector.cli import pins
    from collector.cli.sources import CliError
    from collector.intake.bundle import BundleError, parse_bundle
    from collector.intake.chains import der_to_pem

    if bool(args.chain) == bool(args.connect):
        raise CliError("give a CHAIN.pem file or --connect HOST:PORT (one of them)", 2)
    if args.connect:
        ders, complete = pins.certs_from_host(args.connect, args.timeout)
        if not complete:
            print("pin-collector: warning: only the leaf could be read from the server; "
                  "rehearse a PEM file of the whole chain for its CA keys", file=sys.stderr)
        body = "".join(der_to_pem(d) for d in ders).encode("ascii")
    else:
        try:
            body = Path(args.chain).read_bytes()
        except OSError as exc:
            raise CliError(f"cannot read {args.chain}: {exc.strerror or exc}", 2) from None
    try:
        parse_bundle(body)
    except BundleError as exc:
        raise CliError(f"{args.chain or args.connect}: {exc}", 2) from None
    return body


@contextlib.contextmanager
def _redis(args: argparse.Namespace) -> Iterator[ReadContext]:
    """The read context of the Redis ``api_source`` chose (as every read command does)."""
    from collector.cli.redis_source import redis_errors, redis_source

    with redis_errors():
        yield redis_source(args.redis_url or os.environ["REDIS_URL"]).ctx


def _hostname(raw: str) -> str:
    from collector.cli.sources import CliError
    from collector.intake.hostnames import HostnameError, normalise

    try:
        return normalise(raw)
    except HostnameError:
        raise CliError(f"--host: not a hostname: {raw}", 2) from None


def _window(args: argparse.Namespace) -> Window:
    from collector.aggregates.read.windows import Window

    return Window(args.since, args.until)


def rehearse(args: argparse.Namespace) -> int:
    from collector.cli.sources import CliError, api_source, window_params

    body = _pem(args)
    hostname = _hostname(args.host)
    api = api_source(args)
    if api is not None:
        path = f"/v1/hosts/{urllib.parse.quote(hostname, safe='')}/rehearsal"
        doc = api.request("POST", path, window_params(_window(args)), body, PEM_TYPE,
                          field_errors=True)
    else:
        from collector.aggregates.read.rehearsal import rehearsal_doc
        from collector.intake.bundle import parse_bundle

        with _redis(args) as ctx:
            found = rehearsal_doc(ctx, hostname, _window(args), parse_bundle(body))
        if found is None:
            raise CliError(f"not found: {args.host}", 1)
        doc = found
    print(json.dumps(doc, indent=2, ensure_ascii=False) if args.json else render_rehearsal(doc))
    return 1 if doc["would_fail"] else 0


def inventory(args: argparse.Namespace) -> int:
    from collector.cli.sources import CliError, api_source, window_params

    hostname = _hostname(args.host)
    api = api_source(args)
    if api is not None:
        doc = api.get(f"/v1/hosts/{urllib.parse.quote(hostname, safe='')}/inventory",
                      window_params(_window(args)))
    else:
        from collector.aggregates.read.inventory import inventory_doc

        with _redis(args) as ctx:
            found = inventory_doc(ctx, hostname, _window(args))
        if found is None:
            raise CliError(f"not found: {args.host}", 1)
        doc = found
    print(json.dumps(doc, indent=2, ensure_ascii=False) if args.json else render_inventory(doc))
    return 0


def _build(v: dict[str, Any]) -> tuple[str, str, str]:
    return v["app_id"] or "(no app id)", v["app_version"] or "-", v["platform"] or "-"


def render_rehearsal(doc: dict[str, Any]) -> str:
    from collector.cli.output import table

    s = doc["summary"]
    certs = doc["chain"]["certificates"]
    out = [f"{doc['hostname']}: rehearsal of a chain of {len(certs)} certificates, leaf "
           f"{certs[0]['subject']} issued by {certs[0]['issuer']}"]
    if doc["would_fail"]:
        out.append(f"WOULD FAIL: {s['failing']} of {s['versions']} app versions seen would "
                   f"refuse this chain, on {doc['devices_that_would_fail']} devices")
    else:
        out.append(f"OK: every app version seen ({s['versions']}) would accept this chain")
    if s["not_enforced"]:
        out.append(f"{s['not_enforced']} versions carry only expired pin sets: not enforced, "
                   "they accept any chain")
    if s["reports_of_other_builds"]:
        out.append(f"not judged: {s['reports_of_other_builds']} reports of builds past the "
                   "per-host cap")
    out += ["", table(
        ("app_id", "app_version", "platform", "verdict", "devices", "reports", "matching",
         "expiration", "last_seen"),
        [(*_build(v), v["verdict"].upper() if v["verdict"] == "fail" else v["verdict"],
          v["devices"], v["reports"],
          ",".join(k["position"] for k in v["matching_keys"]) or None, v["expiration"],
          v["last_seen"]) for v in doc["versions"]])]
    if doc["chain"]["warnings"]:
        out += ["", "Warnings:", *(f"  - {w}" for w in doc["chain"]["warnings"])]
    out += ["", "Pins of this chain (add the two recommended ones to the next release):",
            table(("position", "pin", "recommended", "shipped_by", "subject"),
                  [(p["position"], p["pin"], "yes" if p["recommended"] else "",
                    p["shipped_by_versions"], p["subject"]) for p in doc["pins_to_add"]])]
    nxt = doc["next_release"]
    out += ["", "Next release pin set (the new keys plus the pins shipped today):",
            f"TrustKit kTSKPublicKeyHashes: {json.dumps(nxt['trustkit']['kTSKPublicKeyHashes'])}"
            f" (kTSKExpirationDate: {nxt['trustkit']['kTSKExpirationDate']})",
            "Android network security config:", nxt["android_nsc"]]
    return "\n".join(out)


def render_inventory(doc: dict[str, Any]) -> str:
    from collector.cli.output import table

    out = [f"{doc['hostname']}: {len(doc['versions'])} app versions in the field, "
           f"{doc['devices']} devices, {doc['reports']} reports"]
    rows = [(*_build(v), p["devices"], p["reports"], " ".join(p["pins"]) or None,
             p["expiration"], p["days_to_expiry"],
             "expired" if p["expired"] else ("yes" if p["has_backup_pin"] else "NO"),
             p["last_seen"])
            for v in doc["versions"] for p in v["pin_sets"]]
    out += ["", table(("app_id", "app_version", "platform", "devices", "reports", "pins",
                       "expiration", "days_left", "backup", "last_seen"), rows)]
    more = doc.get("more") or {}
    if more.get("reports"):
        out.append(f"(+{more['reports']} more reports of builds past the per-host cap)")
    return "\n".join(out)
