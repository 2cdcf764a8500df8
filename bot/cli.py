"""The ``intake`` command line."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import sys

from .config import ConfigError, load_settings


def _configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)


async def _upgrade(settings) -> None:
    from storage.db import create_engine
    from storage.migrate import upgrade

    engine = create_engine(settings.database_url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


def cmd_db_upgrade(args) -> int:
    settings = load_settings()
    asyncio.run(_upgrade(settings))
    print("数据库已升级到最新版本")
    return 0


def cmd_serve(args) -> int:
    from aiohttp import web

    from .app import create_app

    settings = load_settings()
    host = args.host or settings.host
    port = args.port or settings.port
    asyncio.run(_upgrade(settings))
    log = logging.getLogger("intake")
    log.info("settings: %s", settings.describe())
    if args.workers > 1:
        return _serve_workers(settings, host, port, args.workers)
    web.run_app(create_app(settings), host=host, port=port, access_log=None, print=lambda *_: None,
                handle_signals=True)
    return 0


def _serve_workers(settings, host: str, port: int, workers: int) -> int:
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

    from .app import create_app

    _configure_logging()
    web.run_app(create_app(load_settings()), host=host, port=port, reuse_port=True, access_log=None,
                print=lambda *_: None)


def cmd_user_add(args) -> int:
    from .security import hash_password

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("密码：")
    if len(password) < 8:
        print("错误：密码至少 8 位", file=sys.stderr)
        return 2

    async def go() -> int:
        from storage import queries
        from storage.db import create_engine, sessionmaker
        from storage.models import AuditEntry, User

        settings = load_settings()
        engine = create_engine(settings.database_url)
        try:
            async with sessionmaker(engine)() as session:
                if await queries.user_by_name(session, args.name):
                    print(f"错误：用户 {args.name} 已存在", file=sys.stderr)
                    return 1
                session.add(User(username=args.name, display_name=args.display_name, role=args.role,
                                 password_hash=hash_password(password)))
                session.add(AuditEntry(actor="cli", action="user.created", detail={"username": args.name, "role": args.role}))
                await session.commit()
        finally:
            await engine.dispose()
        print(f"已创建用户 {args.name}（{args.role}）")
        return 0

    return asyncio.run(go())


def cmd_token_create(args) -> int:
    from .security import new_token, token_hash

    async def go() -> int:
        from storage import queries
        from storage.db import create_engine, sessionmaker
        from storage.models import ApiToken, AuditEntry

        settings = load_settings()
        engine = create_engine(settings.database_url)
        try:
            async with sessionmaker(engine)() as session:
                user = await queries.user_by_name(session, args.name)
                if user is None:
                    print(f"错误：没有用户 {args.name}，请先运行 intake user add", file=sys.stderr)
                    return 1
                token = new_token()
                session.add(ApiToken(user_id=user.id, name=args.label or args.name, token_hash=token_hash(token)))
                session.add(AuditEntry(actor="cli", action="token.created", detail={"username": args.name}))
                await session.commit()
        finally:
            await engine.dispose()
        print(token)
        return 0

    return asyncio.run(go())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="intake", description="gov-intake：政务留言受理")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="apply migrations and serve HTTP")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--workers", type=int, default=1, help="worker processes sharing the port")
    p.set_defaults(func=cmd_serve)

    db = sub.add_parser("db", help="database").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="apply migrations").set_defaults(func=cmd_db_upgrade)

    user = sub.add_parser("user", help="staff accounts").add_subparsers(dest="user_command", required=True)
    p = user.add_parser("add", help="create a staff account")
    p.add_argument("name")
    p.add_argument("--role", choices=("admin", "staff"), default="staff")
    p.add_argument("--display-name")
    p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    p.set_defaults(func=cmd_user_add)

    token = sub.add_parser("token", help="API tokens").add_subparsers(dest="token_command", required=True)
    p = token.add_parser("create", help="print a new API token for an account")
    p.add_argument("name")
    p.add_argument("--label", help="what the token is for (shown in the audit log)")
    p.set_defaults(func=cmd_token_create)

    from . import report_cli

    report_cli.register(sub)

    from . import kb_cli

    kb_cli.register(sub)  # issue 7: kb import/export, wechat menu push

    try:
        from nlp import cli as nlp_cli
    except ImportError:
        nlp_cli = None
    if nlp_cli is not None:
        nlp_cli.register(sub)

    from . import importer

    importer.register(sub)  # intake import FILE --channel CHANNEL
    return parser


def main(argv: list[str] | None = None) -> int:
    _configure_logging()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args) or 0
    except ConfigError as exc:
        print(f"配置错误：{exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
