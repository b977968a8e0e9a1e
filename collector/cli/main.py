"""The `pin-collector` command: serve, plus tools for analysts and operators.

Read commands (summary, hosts, host, chains, chain, export, alerts, triage audit) go through the
HTTP API with a token
(``--url``/``--token`` or PIN_COLLECTOR_URL/PIN_COLLECTOR_TOKEN) or straight to Redis
(``--redis-url``, else REDIS_URL). Exit status: 0 ok, 1 not found or refused, 2 usage or
connection problems, 141 when the reader of the output went away (``| head``), silently, as
for a command killed by SIGPIPE.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import signal
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
    from collector.cli.sources import api_source

    api = api_source(args)
    if api is not None:
        return api
    from collector.cli.redis_source import redis_source

    return redis_source(args.redis_url or os.environ["REDIS_URL"])


def _read(args: argparse.Namespace) -> int:
    from collector.aggregates.read.params import MAX_LIMIT
    from collector.aggregates.read.windows import Window
    from collector.cli import output
    from collector.cli.sources import pages

    src = _source(args)
    w = Window(args.since, args.until)
    if args.command == "export":
        rows = output.export_rows(pages(lambda c: src.hosts(w, "reports", c, MAX_LIMIT)),
                                  pages(lambda c: src.chains(w, c, MAX_LIMIT)))
        out = open(args.output, "w", encoding="utf-8", newline="") if args.output else sys.stdout  # noqa: SIM115
        try:
            count = output.write_export(rows, args.format, out)
        finally:
            if out is not sys.stdout:
                out.close()
        print(f"exported {count} rows", file=sys.stderr)
        return 0
    if args.command == "summary":
        doc, render = src.summary(w), output.summary
    elif args.command == "hosts":
        doc = src.hosts(w, args.sort, args.cursor or None, args.limit)
        render = output.hosts
    elif args.command == "host":
        doc, render = src.host(args.hostname, w), output.host
    elif args.command == "chains":
        doc = src.chains(w, args.cursor or None, args.limit,
                         classification=args.classification, hostname=args.hostname)
        render = output.chains
    else:
        doc, render = src.chain(args.fingerprint.lower(), w), output.chain
    print(json.dumps(doc, indent=2, ensure_ascii=False) if args.json else render(doc))
    return 0


def _alerts(args: argparse.Namespace) -> int:
    from collector.cli import output

    src = _source(args)
    if args.command == "alerts":
        doc, render = src.alerts(args.cursor or None, args.limit), output.alerts
    elif args.target == "audit":
        doc, render = src.audit(args.cursor or None, args.limit), output.audit
    elif args.target == "pair":
        doc = src.triage_pair(args.hostname, args.fingerprint.lower(), args.state, args.note)
        render = output.triage
    else:
        doc, render = src.triage_issuer(args.pin, args.state, args.note), output.triage
    print(json.dumps(doc, indent=2, ensure_ascii=False) if args.json else render(doc))
    return 0


def _pin(args: argparse.Namespace) -> int:
    from collector.cli import pins

    path = Path(args.target)
    if path.is_file():
        ders, complete = pins.certs_from_file(path), True
    else:
        ders, complete = pins.certs_from_host(args.target, args.timeout)
    certs = pins.describe(ders)
    print(json.dumps(certs, indent=2) if args.json else pins.render_pins(certs, complete))
    return 0


def _send(args: argparse.Namespace) -> int:
    from collector.cli import pins

    result = pins.send_test_report(args.url, args.hostname, args.timeout)
    if args.json:
        print(json.dumps(result.as_json(), indent=2))
    else:
        print(f"HTTP {result.status}: {result.meaning}"
              + (f" ({result.detail})" if result.detail else ""))
    return 0 if result.status == 204 else 1


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
    cs = sub.add_parser("chains", parents=[common], help="offending chains, one page")
    cs.add_argument("--classification", help="only this class: interception-tool, "
                    "tls-inspection, public-trust or unknown (the pair's with --hostname, "
                    "else the chain's own)")
    cs.add_argument("--hostname", help="only this host's chains (U-label or A-label)")
    cs.add_argument("--limit", type=int, default=50)
    cs.add_argument("--cursor")
    cs.set_defaults(func=_read)
    c = sub.add_parser("chain", parents=[common],
                       help="one offending chain, with its class on each host")
    c.add_argument("fingerprint")
    c.set_defaults(func=_read)
    e = sub.add_parser("export", parents=[common], help="host and chain aggregates")
    e.add_argument("--format", choices=("csv", "ndjson"), default="csv")
    e.add_argument("--output", "-o", help="file to write (default stdout)")
    e.set_defaults(func=_read)

    al = sub.add_parser("alerts", parents=[common], help="alerts fired, newest first")
    al.add_argument("--limit", type=int, default=50)
    al.add_argument("--cursor")
    al.set_defaults(func=_alerts)
    tr = sub.add_parser("triage", help="mark a (host, chain) pair or an issuer (SPKI pin) "
                        "open, acknowledged or ignored (through the API), or list the audit")
    tsub = tr.add_subparsers(dest="target", required=True)
    change = argparse.ArgumentParser(add_help=False)
    change.add_argument("--state", required=True, choices=("open", "acknowledged", "ignored"))
    change.add_argument("--note", default="", help="why (at most 500 characters)")
    tp = tsub.add_parser("pair", parents=[common, change], help="one (host, chain) pair")
    tp.add_argument("hostname")
    tp.add_argument("fingerprint")
    ti = tsub.add_parser("issuer", parents=[common, change],
                         help="every chain holding a certificate with this SPKI pin")
    ti.add_argument("pin", help="RFC 7469 pin (base64 SHA-256 of the SPKI)")
    ta = tsub.add_parser("audit", parents=[common], help="triage changes, newest first")
    ta.add_argument("--limit", type=int, default=50)
    ta.add_argument("--cursor")
    tr.set_defaults(func=_alerts)

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
    t.add_argument("--json", action="store_true", help="print the answer as a JSON object")
    t.set_defaults(func=_send)
    from collector.cli import rehearse  # field pin inventory and rotation rehearsal
    rehearse.add_commands(sub, common)
    return p


def _stdout_gone() -> bool:
    """True when stdout is a pipe whose reader has closed it (``| head``)."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return True  # not a file descriptor: only a write to it can have raised
    poll = getattr(select, "poll", None)
    if poll is None:
        return True
    watch = poll()
    watch.register(fd, select.POLLOUT)
    return any(events & select.POLLERR for _, events in watch.poll(0))


def _quiet_exit() -> int:
    """Stop without a traceback or a message, as a command killed by SIGPIPE does (status
    128 + 13), after pointing stdout at /dev/null so the interpreter's last flush of what
    is still buffered cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, sys.stdout.fileno())
        finally:
            os.close(devnull)
    except (AttributeError, OSError, ValueError):
        pass
    return 128 + signal.SIGPIPE


def main(argv: list[str] | None = None) -> int:
    from collector.cli.sources import CliError
    from collector.intake.chains import ChainError

    args = parser().parse_args(argv)
    try:
        code: int = args.func(args)
        sys.stdout.flush()  # a reader that went away shows here, not at interpreter exit
    except BrokenPipeError as exc:
        if _stdout_gone():
            return _quiet_exit()
        print(f"pin-collector: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
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
