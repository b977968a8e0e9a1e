"""The `pin-collector` command: serve, plus tools for analysts and operators.

Read commands (summary, hosts, host, chain, export) go through the HTTP API with a token
(``--url``/``--token`` or PIN_COLLECTOR_URL/PIN_COLLECTOR_TOKEN) or straight to Redis
(``--redis-url``, else REDIS_URL). Exit status: 0 ok, 1 not found or refused, 2 usage or
connection problems.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from collector.config import ConfigError

if TYPE_CHECKING:
    from collector.cli.sources import Source


def _serve(args: argparse.Namespace) -> int:
    from collector.server import serve

    serve.run(args.bind, args.workers)
    return 0


def _time(raw: str) -> datetime:
    value = datetime.fromisoformat(raw)
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError("needs a time zone, e.g. 2026-01-01T00:00:00Z")
    return value


def _source(args: argparse.Namespace) -> Source:
    from collector.cli.redis_source import redis_source
    from collector.cli.sources import ApiSource, CliError

    url = args.url or os.environ.get("PIN_COLLECTOR_URL")
    if args.redis_url:
        return redis_source(args.redis_url)
    if url:
        return ApiSource(url, args.token or os.environ.get("PIN_COLLECTOR_TOKEN"))
    if os.environ.get("REDIS_URL"):
        return redis_source(os.environ["REDIS_URL"])
    raise CliError("say where to read: --url (with a token) or --redis-url", 2)


def _read(args: argparse.Namespace) -> int:
    from collector.aggregates.read.params import MAX_LIMIT
    from collector.aggregates.read.windows import Window
    from collector.cli import output as clifmt
    from collector.cli.sources import pages

    src = _source(args)
    w = Window(args.since, args.until)
    if args.command == "export":
        rows = clifmt.export_rows(pages(lambda c: src.hosts(w, "reports", c, MAX_LIMIT)),
                                  pages(lambda c: src.chains(w, c, MAX_LIMIT)))
        out = open(args.output, "w", encoding="utf-8", newline="") if args.output else sys.stdout  # noqa: SIM115
        try:
            count = clifmt.write_export(rows, args.format, out)
        finally:
            if out is not sys.stdout:
                out.close()
        print(f"exported {count} rows", file=sys.stderr)
        return 0
    if args.command == "summary":
        doc, render = src.summary(w), clifmt.summary
    elif args.command == "hosts":
        doc = src.hosts(w, args.sort, args.cursor or None, args.limit)
        render = clifmt.hosts
    elif args.command == "host":
        doc, render = src.host(args.hostname, w), clifmt.host
    else:
        doc, render = src.chain(args.fingerprint.lower(), w), clifmt.chain
    print(json.dumps(doc, indent=2, ensure_ascii=False) if args.json else render(doc))
    return 0


def _pin(args: argparse.Namespace) -> int:
    from collector.cli import pins as pintool

    path = Path(args.target)
    if path.is_file():
        ders, complete = pintool.certs_from_file(path), True
    else:
        ders, complete = pintool.certs_from_host(args.target, args.timeout)
    certs = pintool.describe(ders)
    print(json.dumps(certs, indent=2) if args.json else pintool.render_pins(certs, complete))
    return 0


def _send(args: argparse.Namespace) -> int:
    from collector.cli import pins as pintool

    status, meaning, detail = pintool.send_test_report(args.url, args.hostname, args.timeout)
    print(f"HTTP {status}: {meaning}" + (f" ({detail})" if detail else ""))
    return 0 if status == 204 else 1


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pin-collector", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="run the collector under gunicorn")
    s.add_argument("--bind", default="127.0.0.1:8000", help="HOST:PORT (default %(default)s)")
    s.add_argument("--workers", type=int, default=2, help="gunicorn workers (default %(default)s)")
    s.set_defaults(func=_serve)

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", help="collector base URL (env PIN_COLLECTOR_URL)")
    common.add_argument("--token", help="analyst bearer token (env PIN_COLLECTOR_TOKEN)")
    common.add_argument("--redis-url", help="read Redis directly instead (else env REDIS_URL)")
    common.add_argument("--since", type=_time, help="RFC 3339 window start")
    common.add_argument("--until", type=_time, help="RFC 3339 window end")
    common.add_argument("--json", action="store_true", help="print the JSON document")
    sub.add_parser("summary", parents=[common], help="totals and top hosts/chains") \
        .set_defaults(func=_read)
    h = sub.add_parser("hosts", parents=[common], help="hosts, one page")
    h.add_argument("--sort", choices=("reports", "last_seen"), default="reports")
    h.add_argument("--limit", type=int, default=50)
    h.add_argument("--cursor")
    h.set_defaults(func=_read)
    one = sub.add_parser("host", parents=[common], help="one host, with pin advice")
    one.add_argument("hostname")
    one.set_defaults(func=_read)
    c = sub.add_parser("chain", parents=[common], help="one offending chain")
    c.add_argument("fingerprint")
    c.set_defaults(func=_read)
    e = sub.add_parser("export", parents=[common], help="host and chain aggregates")
    e.add_argument("--format", choices=("csv", "ndjson"), default="csv")
    e.add_argument("--output", "-o", help="file to write (default stdout)")
    e.set_defaults(func=_read)

    pn = sub.add_parser("pin", help="SPKI pins of a PEM/DER file or a live HOST[:PORT]")
    pn.add_argument("target", metavar="FILE|HOST[:PORT]")
    pn.add_argument("--json", action="store_true")
    pn.add_argument("--timeout", type=float, default=10.0)
    pn.set_defaults(func=_pin)
    t = sub.add_parser("send-test-report", help="POST a sample TrustKit report to a collector")
    t.add_argument("url", metavar="URL", help="collector base URL or its /v1/reports URL")
    t.add_argument("--hostname", default="pin-collector-test.example",
                   help="hostname the sample report is about (default %(default)s)")
    t.add_argument("--timeout", type=float, default=10.0)
    t.set_defaults(func=_send)
    return p


def main(argv: list[str] | None = None) -> int:
    from collector.cli.sources import CliError
    from collector.intake.chains import ChainError

    args = parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except ConfigError as exc:
        print(f"pin-collector: {exc}", file=sys.stderr)
        return 2
    except CliError as exc:
        print(f"pin-collector: {exc}", file=sys.stderr)
        return exc.code
    except (ChainError, ValueError, OSError) as exc:
        print(f"pin-collector: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
