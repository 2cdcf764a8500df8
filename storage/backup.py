"""A consistent copy of a live SQLite database (``intake backup``)."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path
from urllib.parse import quote


def copy_sqlite(source: Path, output: Path) -> int:
    """Copy ``source`` into ``output`` with SQLite's online backup API, in one
    step: one read transaction, so the copy is the database as of one
    commit, while the server's writer goes on (WAL). The copy is a single
    file (rollback journal), mode 0600, written beside ``output`` and moved
    into place when complete and checked. Returns its page count."""
    tmp = output.with_name(f".{output.name}.{os.getpid()}.part")
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
    try:
        src = sqlite3.connect(f"file:{quote(str(source))}?mode=rw", uri=True)  # never creates it
        try:
            src.execute("PRAGMA query_only=ON")
            src.execute("PRAGMA busy_timeout=10000")
            dst = sqlite3.connect(tmp)
            try:
                src.backup(dst)
                dst.execute("PRAGMA journal_mode=DELETE")
                check = dst.execute("PRAGMA quick_check").fetchone()[0]
                if check != "ok":
                    raise sqlite3.DatabaseError(f"the copy failed its check: {check}")
                pages = dst.execute("PRAGMA page_count").fetchone()[0]
            finally:
                dst.close()
        finally:
            src.close()
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, output)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    return pages
