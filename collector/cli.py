"""The `pin-collector` command: serve, plus tools for analysts and operators."""

from __future__ import annotations

import argparse
import sys

from collector.config import ConfigError


def _serve(args: argparse.Namespace) -> int:
    from collector import serve

    serve.run(args.bind, args.workers)
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pin-collector", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="run the collector under gunicorn")
    s.add_argument("--bind", default="127.0.0.1:8000", help="HOST:PORT (default %(default)s)")
    s.add_argument("--workers", type=int, default=2, help="gunicorn workers (default %(default)s)")
    s.set_defaults(func=_serve)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except ConfigError as exc:
        print(f"pin-collector: {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
