"""The ``intake`` command line, one module per command group."""

from __future__ import annotations

import argparse
import sys

from bot.config import ConfigError

from . import accounts, backup, hotline, imports, kb, nlp, reports, serve, stats
from .common import CliError, configure_logging, database_unavailable, reason


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="intake", description="gov-intake：政务留言受理")
    sub = parser.add_subparsers(dest="command", required=True)
    for group in (serve, accounts, reports, stats, hotline, kb, nlp, imports, backup):
        group.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Errors an operator can fix (settings, files, the database, the port)
    are one line on standard error; only an unexpected one shows a traceback."""
    configure_logging()
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except ConfigError as exc:
        print(f"配置错误：{exc}", file=sys.stderr)
        return 2
    except CliError as exc:
        print(f"错误：{exc.message}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130
    except OSError as exc:
        print(f"错误：{reason(exc)}", file=sys.stderr)
        return 1
    except Exception as exc:
        if database_unavailable(exc):
            print(f"错误：数据库不可用：{reason(exc)}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
