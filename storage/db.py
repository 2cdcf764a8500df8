"""Engine and sessions. SQLite gets WAL and a busy timeout so several
workers can share the file; PostgreSQL needs nothing special."""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

import sqlalchemy
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


_warned_no_wal = False


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    global _warned_no_wal
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    mode = str(cur.fetchone()[0]).lower()
    if mode not in ("wal", "memory") and not _warned_no_wal:
        _warned_no_wal = True
        logging.getLogger(__name__).warning(
            "SQLite runs in %s journal mode, not WAL (the file system may not support it): "
            "readers and the writer wait for each other", mode)
    # FULL: a commit is on disk before the reply that acknowledges it leaves,
    # even across a power cut; group commit pays the fsync once per batch.
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()
    # Let SQLAlchemy's "begin" event decide how each transaction starts.
    dbapi_conn.isolation_level = None


def _sqlite_begin(conn) -> None:
    # Writers take the lock up front (BEGIN IMMEDIATE) so a transaction that
    # reads then writes never fails with "database is locked" when another
    # worker wrote in between; read-only paths opt out with readonly=True.
    if conn.get_execution_options().get("readonly"):
        conn.exec_driver_sql("BEGIN")
    else:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


# hide_parameters: errors and logs never carry the bound values (citizens'
# messages, phone numbers).


def sqlite_file(url: str) -> Path | None:
    """The file of an SQLite URL (None: in memory, or not SQLite)."""
    u = make_url(url)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:" \
            or u.database.startswith("file:"):
        return None
    return Path(u.database)


def create_private_file(path: Path) -> None:
    """Make the database file, empty, readable and writable by its owner
    only (0600; SQLite gives its -wal and -shm files the same mode), in a
    directory made 0700 when we make it. An existing file is left alone."""
    if not path.parent.is_dir():
        path.parent.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            path.parent.mkdir(mode=0o700)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass


def create_engine(url: str, **kwargs) -> AsyncEngine:
    if is_sqlite(url):
        db_file = sqlite_file(url)
        if db_file is not None:
            create_private_file(db_file)
        engine = create_async_engine(url, hide_parameters=True, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(url, hide_parameters=True, **kwargs)


def create_sync_engine(url) -> Engine:
    """A plain (pysqlite) engine on the same SQLite file, with the same
    pragmas and transaction start, for work done on a thread of its own."""
    u = make_url(url)
    if u.get_backend_name() != "sqlite":
        raise ValueError("create_sync_engine is for SQLite")
    engine = sqlalchemy.create_engine(u.set(drivername="sqlite"), hide_parameters=True)
    event.listen(engine, "connect", _sqlite_pragmas)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
