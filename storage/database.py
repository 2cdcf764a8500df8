"""The database as the services use it: one unit of work per use case.

A use case is a plain function ``fn(tx, *args)``; ``await db.write(fn,
…)`` runs it in a write transaction (committed when it returns, rolled back
when it raises), ``await db.read(fn, …)`` in a read-only one. ``tx`` offers
the Core connection (``tx.conn``, for the fast statements) and the ORM
session (``tx.session``, made on first use), both in that one transaction.

Writes go through the ``Writer`` (storage/writer.py: on SQLite one thread
for all writes of the process, grouped commits); reads run through
aiosqlite / asyncpg, so a slow staff query never blocks the event loop and
never holds SQLite's write lock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Concatenate, ParamSpec, TypeVar

from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from .db import create_engine
from .writer import Writer

T = TypeVar("T")
P = ParamSpec("P")


class Tx:
    """One transaction, owned by whoever opened it (it commits or rolls back)."""

    __slots__ = ("_conn", "_session", "_savepoint", "_together")

    def __init__(self, conn: Connection | None = None, session: Session | None = None, *, savepoint: bool = True):
        self._conn = conn
        self._session = session
        self._savepoint = savepoint
        self._together: dict[Callable, list[dict]] | None = None

    @property
    def conn(self) -> Connection:
        if self._conn is None:
            self._conn = self._session.connection()  # type: ignore[union-attr]
        return self._conn

    @property
    def session(self) -> Session:
        if self._session is None:
            # Rides in a savepoint of its own on the connection's transaction:
            # a failed flush rolls back only that savepoint, so in a group
            # commit the other pieces (and the writer's own savepoints) live.
            # (``savepoint=False``: the caller's transaction fails as a whole
            # if this piece does; no savepoint needed.)
            self._session = Session(bind=self._conn, expire_on_commit=False, autoflush=True,
                                    join_transaction_mode="create_savepoint" if self._savepoint else "rollback_only")
        return self._session

    @property
    def dialect(self) -> str:
        return self.conn.dialect.name

    def flush(self) -> None:
        if self._session is not None:
            self._session.flush()

    def together(self, statement: Callable[[Connection, list[dict]], object], params: dict) -> None:
        """Run ``statement`` (a storage.sqlite_fast.Prepared, no RETURNING)
        with ``params`` when this piece of work ends, in one executemany with
        every other ``params`` given for it: a row that each item of a batch
        writes alike costs one round trip for the batch, not one per item.
        Nothing in the piece reads it back before then."""
        if self._together is None:
            self._together = {}
        self._together.setdefault(statement, []).append(params)

    def _finish(self) -> None:
        """Write the rows kept for together() and what the session holds, then
        let the objects go (detached, their loaded values kept for whoever
        reads them next)."""
        if self._together:
            together, self._together = self._together, None
            for statement, rows in together.items():
                statement(self.conn, rows)
        if self._session is not None:
            try:
                self._session.commit()  # releases its savepoint; the caller commits
            finally:
                self._session.close()


def is_outage(exc: BaseException) -> bool:
    """Whether ``exc`` says the database is away or unusable (connection
    lost, server shutting down, disk full, read-only), as opposed to one
    statement's data being refused: a caller answers the first with "try
    again later" and the second as that item's own failure."""
    if isinstance(exc, (OperationalError, InterfaceError)):
        return True
    if isinstance(exc, DBAPIError):
        # asyncpg's errors reach SQLAlchemy as plain DBAPIErrors: their
        # SQLSTATE tells a database that cannot write now from a bad row.
        code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None) or ""
        return bool(exc.connection_invalidated) or code == READ_ONLY_SQLSTATE or code[:2] in OUTAGE_SQLSTATE_CLASSES
    return isinstance(exc, (OSError, asyncio.TimeoutError))


# PostgreSQL's SQLSTATE classes of a server that cannot serve now, whatever
# the statement: connection exception, insufficient resources (disk full),
# operator intervention (shutting down), system error (I/O).
OUTAGE_SQLSTATE_CLASSES = frozenset({"08", "53", "57", "58"})
READ_ONLY_SQLSTATE = "25006"  # a standby, or default_transaction_read_only


def run_in(conn: Connection, fn: Callable[..., T], *args, savepoint: bool = True) -> T:
    """``fn(tx, *args)`` on ``conn``, already in a transaction that the
    caller owns (a write made of pieces: recording a batch of messages,
    then each caller's own work on what was recorded); what ``fn``'s
    session holds is written when it returns. ``savepoint=False`` when
    ``fn`` failing fails the caller's whole transaction anyway."""
    tx = Tx(conn, savepoint=savepoint)
    try:
        result = fn(tx, *args)
        tx._finish()
    except BaseException:
        if tx._session is not None:
            tx._session.close()
        raise
    return result


def _run_write(conn: Connection, fn: Callable[..., T], args: tuple) -> T:
    return run_in(conn, fn, *args)


class Database:
    """Engines, the writer and the unit of work, one per process."""

    def __init__(self, url: str, *, engine: AsyncEngine | None = None):
        self.url = url
        self.engine = engine or create_engine(url)
        self.writer = Writer(self.engine)
        self._reads = async_sessionmaker(self.engine.execution_options(readonly=True), expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    async def write(self, fn: Callable[Concatenate[Tx, P], T], *args: P.args) -> T:
        """``fn(tx, *args)`` in a write transaction; its result once committed."""
        return await self.writer.transaction(_run_write, fn, args)

    async def read(self, fn: Callable[Concatenate[Tx, P], T], *args: P.args) -> T:
        """``fn(tx, *args)`` in a read-only transaction (one snapshot)."""
        async with self._reads() as session:
            return await session.run_sync(lambda sync: fn(Tx(session=sync), *args))

    def session(self) -> AsyncSession:
        """A plain async session, for tests and tools that look at the data
        directly (the application itself goes through read and write)."""
        return AsyncSession(self.engine, expire_on_commit=False)

    async def close(self) -> None:
        await self.writer.wait_idle()
        self.writer.close()
        await self.engine.dispose()
