"""``intake user add`` and ``intake token create``."""

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

    token = sub.add_parser("token", help="API tokens").add_subparsers(dest="token_command", required=True)
    p = token.add_parser("create", help="print a new API token for an account")
    p.add_argument("name")
    p.add_argument("--label", help="what the token is for (shown in the audit log)")
    p.set_defaults(func=cmd_token_create)


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
