"""``intake import FILE --channel CHANNEL``: historical interactions."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from bot.domain.vocabulary import CHANNELS
from bot.services.imports import CHUNK, ImportRefused, import_file

from .common import runtime


def register(sub) -> None:
    p = sub.add_parser("import", help="import historical interactions from CSV or XLSX (12345 export or ours)")
    p.add_argument("file", type=Path)
    p.add_argument("--channel", required=True, choices=CHANNELS, help="the channel these interactions came by")
    p.add_argument("--errors", type=Path, help="where to write rejected rows (default: FILE.errors.csv)")
    p.add_argument("--open", dest="keep_open", action="store_true",
                   help="keep imported cases open (default: history is imported as closed)")
    p.add_argument("--chunk", type=int, default=CHUNK, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_import)


def cmd_import(args) -> int:
    async def go() -> int:
        from nlp import load_classifier

        async with runtime(classifier=load_classifier()) as rt:
            try:
                summary = await import_file(rt, args.file, args.channel, errors_path=args.errors,
                                            keep_open=args.keep_open, chunk_size=max(1, args.chunk))
            except ImportRefused as exc:
                if exc.partial is None:
                    print(f"错误：{exc}；未导入任何数据。", file=sys.stderr)
                else:
                    print(f"错误：{exc}；此前的行已处理（{exc.partial.text()}），修正后重新导入不会重复。",
                          file=sys.stderr)
                return 2
        print(summary.text())
        return 0

    return asyncio.run(go())
