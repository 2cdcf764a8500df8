"""``intake serve`` and ``intake db upgrade``."""

from __future__ import annotations

import asyncio
import logging

from bot.config import load_settings

from .common import configure_logging


def register(sub) -> None:
    p = sub.add_parser("serve", help="apply migrations and serve HTTP")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--workers", type=int, default=1, help="worker processes sharing the port")
    p.set_defaults(func=cmd_serve)

    db = sub.add_parser("db", help="database").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="apply migrations").set_defaults(func=cmd_db_upgrade)


async def _upgrade(settings) -> None:
    from bot.app import migrate
    from storage.database import Database

    db = Database(settings.database_url)
    try:
        await migrate(db, settings.timezone)
    finally:
        await db.close()


def cmd_db_upgrade(args) -> int:
    asyncio.run(_upgrade(load_settings()))
    print("数据库已升级到最新版本")
    return 0


def cmd_serve(args) -> int:
    from aiohttp import web

    from bot.app import create_app

    settings = load_settings()
    host = args.host or settings.host
    port = args.port or settings.port
    asyncio.run(_upgrade(settings))
    logging.getLogger("intake").info("settings: %s", settings.describe())
    if args.workers > 1:
        return _serve_workers(host, port, args.workers)
    web.run_app(create_app(settings), host=host, port=port, access_log=None, print=lambda *_: None,
                handle_signals=True)
    return 0


def _serve_workers(host: str, port: int, workers: int) -> int:
    """Several processes sharing the port (SO_REUSEPORT); the database is the
    only shared state, so any worker can take any request or retry."""
    import multiprocessing as mp

    procs = [mp.get_context("spawn").Process(target=_worker, args=(host, port), daemon=False) for _ in range(workers)]
    for p in procs:
        p.start()
    try:
        for p in procs:
            p.join()
    except KeyboardInterrupt:
        for p in procs:
            p.terminate()
    return 0


def _worker(host: str, port: int) -> None:
    from aiohttp import web

    from bot.app import create_app

    configure_logging()
    web.run_app(create_app(load_settings()), host=host, port=port, reuse_port=True, access_log=None,
                print=lambda *_: None)
