"""``intake kb import|export`` and ``intake wechat menu push``."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path


def _fail(message: str, code: int = 2) -> int:
    print(f"错误：{message}", file=sys.stderr)
    return code


async def _with_session(fn):
    from storage.db import create_engine, sessionmaker

    from .config import load_settings

    from storage.migrate import upgrade

    settings = load_settings()
    engine = create_engine(settings.database_url)
    try:
        await upgrade(engine)  # like `intake serve`: a fresh install works at once
        async with sessionmaker(engine)() as session:
            return await fn(session)
    finally:
        await engine.dispose()


def cmd_kb_import(args) -> int:
    from .answers import AnswersError
    from .knowledge import import_document, read_document

    try:
        doc = read_document(args.file)
    except AnswersError as exc:
        return _fail(exc.message)

    async def go(session):
        summary = await import_document(session, doc, "cli")
        await session.commit()
        return summary

    try:
        summary = asyncio.run(_with_session(go))
    except AnswersError as exc:
        where = f"（{exc.field}）" if exc.field else ""
        return _fail(f"{args.file}{where}：{exc.message}。知识库没有任何改动。")
    print(f"已导入 {args.file}：新增 {len(summary.created)} 条，更新 {len(summary.updated)} 条，"
          f"未变 {len(summary.unchanged)} 条"
          + (f"；关键词规则 {summary.rules} 条" if summary.rules is not None else "")
          + ("；关注欢迎语已更新" if summary.welcome else ""))
    return 0


def cmd_kb_export(args) -> int:
    from .knowledge import dump_document, export_document

    fmt = args.format
    if fmt is None:
        suffix = Path(args.output).suffix.lower() if args.output else ""
        fmt = {".toml": "toml", ".json": "json"}.get(suffix, "yaml")

    async def go(session):
        return await export_document(session)

    text = dump_document(asyncio.run(_with_session(go)), fmt)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"已导出到 {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def cmd_menu_push(args) -> int:
    """Validate locally (WeChat's limits, CLICK keys present in the knowledge
    base), then create the menu through INTAKE_WECHAT_API_BASE."""
    from .answers import AnswersError, validate_menu
    from .config import load_settings
    from .knowledge import read_document

    try:
        menu = read_document(args.file)
    except AnswersError as exc:
        return _fail(exc.message)

    async def known_keys(session):
        from storage import kb_queries

        return {r.key for r in await kb_queries.all_entries(session) if r.active}

    try:
        keys = None if args.no_key_check else asyncio.run(_with_session(known_keys))
        menu = validate_menu(menu, known_keys=keys)
    except AnswersError as exc:
        return _fail(f"{args.file}：{exc.message}（{exc.field}）。未向微信发送任何内容。")
    if args.dry_run:
        print("菜单检查通过（未发送）")
        return 0
    settings = load_settings()
    if not settings.wechat_app_id or not settings.wechat_app_secret:
        return _fail("需要设置 INTAKE_WECHAT_APP_ID 和 INTAKE_WECHAT_APP_SECRET 才能推送菜单")

    async def push():
        from storage import kb_queries
        from storage.db import create_engine

        from .wechat_api import WeChatApi

        engine = create_engine(settings.database_url)
        api = WeChatApi(settings, engine)
        try:
            await api.create_menu(menu)
            import json

            async with engine.begin() as conn:
                await kb_queries.set_value(conn, kb_queries.MENU_KEY, json.dumps(menu, ensure_ascii=False))
        finally:
            await api.close()
            await engine.dispose()

    from .wechat_api import WeChatApiError

    try:
        asyncio.run(push())
    except WeChatApiError as exc:
        return _fail(f"微信拒绝了菜单：{exc.errcode} {exc.errmsg}", 1)
    print(f"菜单已推送到微信（{len(menu['button'])} 个一级菜单）")
    return 0


def register(sub) -> None:
    kb = sub.add_parser("kb", help="knowledge base of instant answers").add_subparsers(dest="kb_command", required=True)
    p = kb.add_parser("import", help="import entries (upsert by key), keyword rules and welcome text from YAML/TOML/JSON")
    p.add_argument("file")
    p.set_defaults(func=cmd_kb_import)
    p = kb.add_parser("export", help="export the knowledge base as YAML (default), TOML or JSON")
    p.add_argument("-o", "--output")
    p.add_argument("--format", choices=("yaml", "toml", "json"))
    p.set_defaults(func=cmd_kb_export)

    wechat = sub.add_parser("wechat", help="WeChat account").add_subparsers(dest="wechat_command", required=True)
    menu = wechat.add_parser("menu", help="custom menu").add_subparsers(dest="menu_command", required=True)
    p = menu.add_parser("push", help="check a menu file against WeChat's limits, then create it on WeChat")
    p.add_argument("file")
    p.add_argument("--dry-run", action="store_true", help="only check the file")
    p.add_argument("--no-key-check", action="store_true", help="don't require CLICK keys to be knowledge-base entries")
    p.set_defaults(func=cmd_menu_push)
