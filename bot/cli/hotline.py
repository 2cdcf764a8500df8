"""``intake hotline sync [--since TIME]``: reconcile with the 12345
platform (orders and events changed since the last sync, or since TIME),
through the same idempotent paths as its pushes."""

from __future__ import annotations

import asyncio

import aiohttp

from bot.domain.hotline import InvalidTime, parse_time
from bot.outbound.hotline_client import HotlinePuller, PullError
from bot.services import hotline

from .common import command_settings, fail, runtime


def register(sub) -> None:
    p = sub.add_parser("hotline", help="the 12345 platform (12345工单)")
    actions = p.add_subparsers(dest="hotline_command", required=True)
    sync = actions.add_parser("sync", help="reconcile: fetch orders and events changed since the last sync (对账)")
    sync.add_argument("--since", metavar="TIME", help="from this time instead (e.g. 2026-12-01 or 2026-12-01T08:00)")
    sync.set_defaults(func=cmd_sync)


def cmd_sync(args) -> int:
    settings = command_settings()
    if not settings.hotline_pull_url or not settings.hotline_secret:
        return fail("未配置 INTAKE_HOTLINE_PULL_URL 或 INTAKE_HOTLINE_SECRET，无法对账")
    since = None
    if args.since:
        try:
            since = parse_time(args.since, settings.tz)
        except InvalidTime as exc:
            return fail(f"--since {exc}")

    async def go() -> hotline.SyncOutcome:
        async with runtime(settings) as rt, aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
            return await hotline.sync(rt, HotlinePuller(settings, lambda: http).page, since=since)

    try:
        outcome = asyncio.run(go())
    except PullError as exc:
        return fail(str(exc), 1)
    o, e = outcome.orders, outcome.events
    until = outcome.until.astimezone(settings.tz).isoformat(timespec="seconds") if outcome.until else "（未完成）"
    print(f"对账完成：{outcome.pages} 页；工单 新增 {len(o.accepted)}、已有 {len(o.duplicates)}、拒收 {len(o.rejected)}；"
          f"事件 应用 {len(e.accepted)}、已有 {len(e.duplicates)}、拒收 {len(e.rejected)}；下次从 {until} 起")
    for r in o.rejected:
        print(f"  拒收工单 {r.get('order_id')}：{r.get('error')}")
    for r in e.rejected:
        print(f"  拒收事件 {r.get('event_id')}：{r.get('message')}")
    return 0 if outcome.until is not None else 1
