"""``intake serve`` and ``intake db upgrade``: the two commands that may
create the database (and, on SQLite, the secret key in var/)."""

from __future__ import annotations

import asyncio
import logging

from bot.config import is_postgresql, load_settings, mask_url_password, with_secret

from . import workers as worker_processes
from .common import CliError, reason

log = logging.getLogger("intake")


def register(sub) -> None:
    p = sub.add_parser("serve", help="apply migrations and serve HTTP")
    p.add_argument("--host")
    p.add_argument("--port", type=int, help="0: any free port (the log line says which)")
    p.add_argument("--workers", type=int, default=1, help="worker processes sharing the port, supervised")
    p.set_defaults(func=cmd_serve)

    db = sub.add_parser("db", help="database").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="create the database or apply migrations").set_defaults(func=cmd_db_upgrade)


async def _upgrade(settings) -> None:
    from bot.app import migrate
    from storage.database import Database

    db = Database(settings.database_url)
    try:
        await migrate(db, settings.timezone)
    finally:
        await db.close()


def _migrated(settings) -> None:
    from sqlalchemy.exc import DBAPIError

    try:
        asyncio.run(_upgrade(settings))
    except (OSError, DBAPIError, TimeoutError) as exc:
        raise CliError(f"无法连接数据库 {mask_url_password(settings.database_url)}：{reason(exc)}") from None


def cmd_db_upgrade(args) -> int:
    settings = load_settings(create_secret=False)
    if not is_postgresql(settings.database_url):
        with_secret(settings, create=True)  # a new install gets its key beside its database
    _migrated(settings)
    print("数据库已升级到最新版本")
    return 0


def cmd_serve(args) -> int:
    settings = with_secret(load_settings(create_secret=False), create=True)
    host = args.host or settings.host
    port = settings.port if args.port is None else args.port
    if args.workers < 1:
        raise CliError("--workers 至少为 1", 2)
    try:
        sock = worker_processes.bind(host, port)
    except OSError as exc:
        raise CliError(f"无法在 {host}:{port} 监听：{reason(exc)}") from None
    try:
        _migrated(settings)
        log.info("settings: %s", settings.describe())
        log.info("serving on %s (%d worker process%s)", worker_processes.address_of(sock), args.workers,
                 "es" if args.workers > 1 else "")
        if args.workers == 1:
            worker_processes.run(settings, sock)
            return 0
        return worker_processes.supervise(settings, sock, args.workers)
    finally:
        sock.close()
