"""``intake report --year YYYY [--format …] [-o PATH] [--template 2019|2021]``."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path


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
    from .config import load_settings
    from .report import ReportError, report_for
    from .report_formats import TEXT_FORMATS, render

    if args.format not in TEXT_FORMATS and not args.output:
        print(f"错误：{args.format} 是二进制格式，请用 -o 指定输出文件", file=sys.stderr)
        return 2
    settings = load_settings()

    async def go() -> dict:
        from storage import queries
        from storage.db import create_engine

        from .workdays import WorkingCalendar

        engine = create_engine(settings.database_url)
        try:
            async with engine.connect() as conn:
                conn = await conn.execution_options(readonly=True)
                async with conn.begin():
                    days, years = await queries.calendar_overrides(conn)
            calendar = WorkingCalendar(days, frozenset(years))
            return await report_for(engine, args.year, calendar=calendar, template=args.template,
                                    office=args.office or settings.office_name or None)
        finally:
            await engine.dispose()

    try:
        report = asyncio.run(go())
    except ReportError as exc:
        print(f"错误：{exc}", file=sys.stderr)
        return 2
    data = render(report, args.format)
    if args.output:
        Path(args.output).write_bytes(data)
        failed = [c for c in report["checks"] if not c["ok"]]
        print(f"已生成 {args.output}（{args.year}年度，{len(report['checks'])} 条校验"
              + ("全部通过）" if not failed else f"，{len(failed)} 条未通过）"), file=sys.stderr)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    return 0
