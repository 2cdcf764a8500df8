"""The ``intake`` command line, one module per command group."""

from __future__ import annotations

import argparse
import sys

from bot.config import ConfigError

from . import accounts, hotline, imports, kb, nlp, reports, serve, stats
from .common import configure_logging


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="intake", description="gov-intake：政务留言受理")
    sub = parser.add_subparsers(dest="command", required=True)
    for group in (serve, accounts, reports, stats, hotline, kb, nlp, imports):
        group.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    configure_logging()
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except ConfigError as exc:
        print(f"配置错误：{exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
