"""``intake stats --from YYYY-MM-DD --to YYYY-MM-DD [--by assignee|kind|channel|topic]
[--format json|csv|xlsx] [-o PATH]``: the 通报 table, the same numbers as
GET /api/v1/stats."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from bot.domain.errors import InvalidInput
from bot.domain.stats import BY_KEYS, DEFAULT_BY, parse_query
from bot.exports.stats_formats import FORMATS, TEXT_FORMATS, render
from bot.services import stats

from .common import command_settings, fail, runtime


def register(sub) -> None:
    p = sub.add_parser("stats", help="通报 statistics over a date range (统计通报)")
    # Checked by the domain, not by argparse, so a mistake is explained in Chinese and names the option.
    p.add_argument("--from", dest="start", metavar="YYYY-MM-DD", help="first day of receipt (inclusive)")
    p.add_argument("--to", dest="end", metavar="YYYY-MM-DD", help="last day of receipt (inclusive)")
    p.add_argument("--by", default=DEFAULT_BY, metavar="|".join(BY_KEYS), help="rows per (default: assignee)")
    p.add_argument("--format", default="json", metavar="|".join(FORMATS), help="output format (default: json)")
    p.add_argument("-o", "--output", help="file to write (xlsx needs one); standard output otherwise")
    p.set_defaults(func=cmd_stats)


def cmd_stats(args) -> int:
    if args.format not in FORMATS:
        return fail(f"--format 必须是 {'、'.join(FORMATS)} 之一")
    if args.format not in TEXT_FORMATS and not args.output:
        return fail(f"{args.format} 是二进制格式，请用 -o 指定输出文件")
    try:
        parse_query(args.start, args.end, args.by)  # before connecting: a typo costs nothing
    except InvalidInput as exc:
        return fail(f"--{exc.field}：{exc}" if exc.field else str(exc))
    settings = command_settings()

    async def go() -> dict:
        async with runtime(settings, migrate=False) as rt:
            return await stats.table(rt, args.start, args.end, args.by)

    table = asyncio.run(go())
    data = render(table, args.format)
    if args.output:
        Path(args.output).write_bytes(data)
        print(f"已生成 {args.output}（{table['from']} 至 {table['to']}，{len(table['rows'])} 行，"
              f"受理 {table['total']['received']} 件）", file=sys.stderr)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    return 0
