"""Staff accounts and API tokens: ``intake user add|list|disable|enable``,
``intake token create|list|revoke``."""

from __future__ import annotations

import asyncio
import getpass
import sys

from bot.domain.actors import CLI
from bot.domain.errors import Conflict, DomainError, NotFound
from bot.services import accounts

from .common import fail, runtime


def register(sub) -> None:
    user = sub.add_parser("user", help="staff accounts").add_subparsers(dest="user_command", required=True)
    p = user.add_parser("add", help="create a staff account")
    p.add_argument("name")
    p.add_argument("--role", choices=accounts.ROLES, default="staff")
    p.add_argument("--display-name")
    p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    p.set_defaults(func=cmd_user_add)

    user.add_parser("list", help="list the staff accounts").set_defaults(func=cmd_user_list)
    p = user.add_parser("disable", help="disable an account: no sign-in, its sessions end, its tokens are refused")
    p.add_argument("name")
    p.set_defaults(func=cmd_user_disable)
    p = user.add_parser("enable", help="enable a disabled account again")
    p.add_argument("name")
    p.set_defaults(func=cmd_user_enable)

    token = sub.add_parser("token", help="API tokens").add_subparsers(dest="token_command", required=True)
    p = token.add_parser("create", help="print a new API token for an account")
    p.add_argument("name")
    p.add_argument("--label", help="what the token is for (shown in the audit log)")
    p.set_defaults(func=cmd_token_create)
    token.add_parser("list", help="list the API tokens (never the tokens themselves)").set_defaults(
        func=cmd_token_list)
    p = token.add_parser("revoke", help="revoke a token, by its id or its name")
    p.add_argument("token", metavar="ID_OR_NAME")
    p.set_defaults(func=cmd_token_revoke)


def cmd_user_add(args) -> int:
    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass("密码：")
    if len(password) < accounts.MIN_PASSWORD:
        return fail(f"密码至少 {accounts.MIN_PASSWORD} 位")

    async def go() -> int:
        async with runtime(migrate=False) as rt:
            try:
                await accounts.add_user(rt, CLI, args.name, role=args.role, password=password,
                                        display_name=args.display_name)
            except Conflict as exc:
                return fail(exc.message, 1)
            except DomainError as exc:
                return fail(exc.message)
        print(f"已创建用户 {args.name}（{args.role}）")
        return 0

    return asyncio.run(go())


def cmd_token_create(args) -> int:
    async def go() -> int:
        async with runtime(migrate=False) as rt:
            try:
                token = await accounts.create_token(rt, args.name, args.label, CLI)
            except NotFound as exc:
                return fail(exc.message, 1)
        print(token)
        return 0

    return asyncio.run(go())


def _when(moment, tz) -> str:
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M") if moment is not None else "-"


def _table(header: list[str], rows: list[list[str]]) -> None:
    """Tab-separated, a header first: readable, and cut/awk-able."""
    for row in [header, *rows]:
        print("\t".join(cell.replace("\t", " ") for cell in row))


def cmd_user_list(args) -> int:
    async def go():
        async with runtime(migrate=False) as rt:
            return await accounts.list_users(rt)

    roles = {"admin": "管理员", "staff": "工作人员"}
    _table(["用户名", "姓名", "角色", "状态"],
           [[u.username, u.display_name or "-", roles.get(u.role, u.role), "启用" if u.active else "停用"]
            for u in asyncio.run(go())])
    return 0


def _set_active(name: str, active: bool) -> int:
    async def go() -> int:
        async with runtime(migrate=False) as rt:
            try:
                changed = await accounts.set_user_active(rt, CLI, name, active)
            except NotFound as exc:
                return fail(exc.message, 1)
        state = "启用" if active else "停用"
        print(f"已{state}用户 {name}" if changed else f"用户 {name} 本来就是{state}状态")
        return 0

    return asyncio.run(go())


def cmd_user_disable(args) -> int:
    return _set_active(args.name, False)


def cmd_user_enable(args) -> int:
    return _set_active(args.name, True)


def cmd_token_list(args) -> int:
    async def go():
        async with runtime(migrate=False) as rt:
            return await accounts.list_tokens(rt), rt.settings.tz

    tokens, tz = asyncio.run(go())
    _table(["编号", "名称", "用户", "创建时间", "最近使用", "状态"],
           [[str(t.id), t.name, t.username, _when(t.created_at, tz), _when(t.last_used_at, tz),
             f"已撤销 {_when(t.revoked_at, tz)}" if t.revoked_at else "有效"] for t in tokens])
    return 0


def cmd_token_revoke(args) -> int:
    async def go() -> int:
        async with runtime(migrate=False) as rt:
            try:
                token, was_live = await accounts.revoke_token(rt, CLI, args.token)
            except NotFound as exc:
                return fail(exc.message, 1)
            except Conflict as exc:
                return fail(exc.message, 1)
            tz = rt.settings.tz
        if was_live:
            print(f"已撤销令牌 {token.id}（{token.name}，用户 {token.username}）")
        else:
            print(f"令牌 {token.id}（{token.name}）已于 {_when(token.revoked_at, tz)} 撤销")
        return 0

    return asyncio.run(go())
