"""``intake kb import|export`` and ``intake wechat menu push``."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from bot.domain.actors import CLI
from bot.domain.answers import AnswersError, validate_menu
from bot.exports.documents import dump_document, read_document
from bot.outbound.wechat_api import WeChatApi, WeChatApiError
from bot.services import knowledge

from .common import command_settings, fail, runtime


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


def cmd_kb_import(args) -> int:
    try:
        doc = read_document(args.file)
    except AnswersError as exc:
        return fail(exc.message)

    async def go():
        async with runtime() as rt:
            return await knowledge.import_document(rt.db, doc, CLI)

    try:
        summary = asyncio.run(go())
    except AnswersError as exc:
        where = f"（{exc.field}）" if exc.field else ""
        return fail(f"{args.file}{where}：{exc.message}。知识库没有任何改动。")
    print(f"已导入 {args.file}：新增 {len(summary.created)} 条，更新 {len(summary.updated)} 条，"
          f"未变 {len(summary.unchanged)} 条"
          + (f"；关键词规则 {summary.rules} 条" if summary.rules is not None else "")
          + ("；关注欢迎语已更新" if summary.welcome else ""))
    if summary.held_back:
        print(held_back_notice(summary.held_back))
    return 0


def held_back_notice(entries) -> str:
    """Every entry whose answer still holds 【…】 blanks, by name, and what
    that means."""
    lines = [f"注意：以下 {len(entries)} 个条目的答复仍含【…】待填写的内容，修改之前不会用于自动答复"
             "（如【…】确是有意保留，管理员可在“自动答复”页面的条目中勾选允许，或在文件中写 placeholders_allowed: true）："]
    for e in entries:
        name = f"{e.label}（{e.key}）" if e.label != e.key else e.key
        lines.append(f"  - {name}：{'、'.join(e.placeholders)}")
    return "\n".join(lines)


def cmd_kb_export(args) -> int:
    fmt = args.format
    if fmt is None:
        suffix = Path(args.output).suffix.lower() if args.output else ""
        fmt = {".toml": "toml", ".json": "json"}.get(suffix, "yaml")

    async def go():
        async with runtime() as rt:
            return await knowledge.export_document(rt.db)

    text = dump_document(asyncio.run(go()), fmt)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"已导出到 {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def cmd_menu_push(args) -> int:
    """Validate locally (WeChat's limits, CLICK keys present in the knowledge
    base), then create the menu through INTAKE_WECHAT_API_BASE."""
    try:
        menu = read_document(args.file)
    except AnswersError as exc:
        return fail(exc.message)

    async def known_keys():
        async with runtime() as rt:
            return await knowledge.active_keys(rt.db)

    try:
        keys = None if args.no_key_check else asyncio.run(known_keys())
        menu = validate_menu(menu, known_keys=keys)
    except AnswersError as exc:
        return fail(f"{args.file}：{exc.message}（{exc.field}）。未向微信发送任何内容。")
    if args.dry_run:
        print("菜单检查通过（未发送）")
        return 0
    settings = command_settings()
    if not settings.wechat_app_id or not settings.wechat_app_secret:
        return fail("需要设置 INTAKE_WECHAT_APP_ID 和 INTAKE_WECHAT_APP_SECRET 才能推送菜单")

    async def push():
        async with runtime(settings) as rt:
            api = WeChatApi(settings, rt.db)
            try:
                await api.create_menu(menu)
                await knowledge.remember_menu(rt.db, json.dumps(menu, ensure_ascii=False))
            finally:
                await api.close()

    try:
        asyncio.run(push())
    except WeChatApiError as exc:
        return fail(f"微信拒绝了菜单：{exc.errcode} {exc.errmsg}", 1)
    print(f"菜单已推送到微信（{len(menu['button'])} 个一级菜单）")
    return 0
