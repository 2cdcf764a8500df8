"""``intake backup -o PATH``: a consistent copy of the SQLite database, taken
while the server runs; on PostgreSQL, the pg_dump command to use."""

from __future__ import annotations

import asyncio
import os
import shlex
import sys
from pathlib import Path

from bot.config import is_postgresql

from .common import CliError, command_settings, existing_database


def register(sub) -> None:
    p = sub.add_parser("backup", help="copy the database (SQLite) or print the pg_dump command (PostgreSQL)")
    p.add_argument("-o", "--output", required=True, help="the copy's file (replaced if it exists)")
    p.set_defaults(func=cmd_backup)


def cmd_backup(args) -> int:
    settings = command_settings()
    output = Path(args.output)
    if is_postgresql(settings.database_url):
        print(pg_dump_command(settings.database_url, output))
        print("（密码不在命令中：用 ~/.pgpass 或 PGPASSWORD 提供；恢复：pg_restore --clean --if-exists "
              "--no-owner -d 目标库 文件）", file=sys.stderr)
        return 0
    asyncio.run(existing_database(settings, key=False))  # a copy needs no key
    from storage.backup import copy_sqlite
    from storage.db import sqlite_file

    source = sqlite_file(settings.database_url)
    if source is None:
        raise CliError("内存数据库无法备份", 2)
    if not output.parent.is_dir():
        raise CliError(f"输出目录不存在：{output.parent}", 2)
    pages = copy_sqlite(source, output)
    print(f"已备份 {source} 到 {output}（{pages} 页，{output.stat().st_size} 字节）；"
          f"会话密钥（INTAKE_SECRET_KEY 或 var/secret_key）须另行保存")
    return 0


def pg_dump_command(url: str, output: Path) -> str:
    """pg_dump with the URL's parts, never its password."""
    from sqlalchemy.engine import make_url

    u = make_url(url)
    host = u.host or u.query.get("host")
    parts = ["pg_dump", "--format=custom", "--no-owner"]
    if host:
        parts.append(f"--host={host if isinstance(host, str) else host[0]}")
    if u.port:
        parts.append(f"--port={u.port}")
    if u.username:
        parts.append(f"--username={u.username}")
    parts += [f"--dbname={u.database or 'postgres'}", f"--file={os.fspath(output)}"]
    return shlex.join(parts)
