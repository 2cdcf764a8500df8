"""``intake report --year YYYY [--format …] [-o PATH] [--template 2019|2021]``."""

from __future__ import annotations

import asyncio
import sys
from datetime import datetime
from pathlib import Path

from bot.domain.report import ReportError
from bot.exports.report_formats import TEXT_FORMATS, render
from bot.services import reports

from .common import command_settings, fail, runtime


def register(sub) -> None:
    p = sub.add_parser("report", help="the annual tally (年度报告统计)")
    p.add_argument("--year", type=int, required=True)
    p.add_argument("--format", choices=("xlsx", "csv", "md", "json", "docx"), default="json")
    p.add_argument("-o", "--output", help="file to write (binary formats need one)")
    p.add_argument("--template", choices=("2019", "2021"),
                   help="table format: 2019 (trial) for years up to 2020, 2021 after, by default")
    p.add_argument("--office", help="the office's name, for the DOCX draft")
    p.set_defaults(func=cmd_report)


def cmd_report(args) -> int:
    if args.format not in TEXT_FORMATS and not args.output:
        return fail(f"{args.format} 是二进制格式，请用 -o 指定输出文件")
    settings = command_settings()

    async def go() -> dict:
        async with runtime(settings, migrate=False) as rt:
            return await reports.annual(rt, args.year, template=args.template,
                                        office=args.office or settings.office_name or None)

    try:
        report = asyncio.run(go())
    except ReportError as exc:
        return fail(str(exc))
    data = render(report, args.format, today=datetime.now(settings.tz).date())
    if args.output:
        Path(args.output).write_bytes(data)
        failed = [c for c in report["checks"] if not c["ok"]]
        print(f"已生成 {args.output}（{args.year}年度，{len(report['checks'])} 条校验"
              + ("全部通过）" if not failed else f"，{len(failed)} 条未通过）"), file=sys.stderr)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    return 0
