"""Write transactions, and the SQLite writer thread that runs them.

On SQLite every write of the process runs on one thread over a plain
pysqlite connection (``Writer``): through aiosqlite every statement is
several thread hops, and under load each hop waits for the GIL, which cost
more than the SQL itself; and the write lock is never held across turns of
the event loop, where every other writer would wait on it. What arrives
while the writer is busy shares the next transaction, each piece in a
savepoint, so a burst pays one commit. PostgreSQL goes through asyncpg as
usual, a transaction each.

``GroupCommitter`` batches concurrent submissions of one kind (the inbound
messages) into one call, so batches grow with load and latency stays at
about one commit.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Hashable, Iterable
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from typing import Generic, TypeVar

from sqlalchemy import String, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from . import postgres_fast
from .db import create_sync_engine
from .sqlite_fast import KeyProbe

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


async def retrying(attempt: Callable[[list[T]], Awaitable[list[R]]], items: list[T]) -> list[R | Exception]:
    """``attempt`` the batch in one transaction. If it fails, redo the items
    one by one: another worker may have stored one of them meanwhile (a
    unique violation: the retry finds it stored), or one item may be bad
    (only that one fails, not everyone else's in the batch), whatever it
    raises: a database error or any other (a date out of range in its
    deadline, say). An item that fails on its own comes back as its error.
    When the database itself is away every item fails alike, each with its
    own error, and nothing was stored."""
    try:
        return await attempt(items)
    except Exception as exc:
        if len(items) == 1:
            if isinstance(exc, IntegrityError):
                return await attempt(items)
            raise
    out: list[R | Exception] = []
    for item in items:
        try:
            out.extend(await retrying(attempt, [item]))
        except Exception as exc:  # this item alone fails; the caller decides
            out.append(exc)
    return out


def raise_failures(results: list) -> list:
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


def _keys_present(conn: Connection, column, keys: list) -> set:
    return set(conn.execute(select(column).where(column.in_(keys))).scalars())


class Writer:
    """Runs write transactions: ``await writer.transaction(fn, *args)`` calls
    ``fn(connection, *args)`` in a transaction and returns once it is
    committed. On SQLite, on the writer thread, grouped with what else is
    queued (each piece in its own savepoint: one piece failing undoes only
    its own work); elsewhere in a transaction of its own."""

    def __init__(self, engine: AsyncEngine, max_group: int = 64):
        self._engine = engine
        self._sync_engine = create_sync_engine(engine.url) if engine.dialect.name == "sqlite" else None
        self._executor = ThreadPoolExecutor(1, "writer") if self._sync_engine is not None else None
        self._max_group = max_group
        self._closed = False
        self._conn: Connection | None = None  # the writer thread's own, kept between groups
        self._queue: list[tuple[Callable, tuple, asyncio.Future]] = []
        self._draining = False
        # (monotonic time, kind) of the last write the database refused for
        # a reason of its own (not a unique violation), until a write
        # succeeds again: what /healthz reports while writes fail.
        self.failing: tuple[float, str] | None = None

    async def transaction(self, fn: Callable[..., T], *args) -> T:
        """``fn(connection, *args)`` in a write transaction; returns once it is
        committed. On SQLite it runs on the writer thread, so the write lock
        is never held across turns of the event loop (where every other
        writer would wait on it)."""
        try:
            if self._sync_engine is None:
                async with self._engine.begin() as conn:
                    result = await conn.run_sync(fn, *args)
            else:
                loop = asyncio.get_running_loop()
                fut = loop.create_future()
                self._queue.append((fn, args, fut))
                if not self._draining:
                    self._draining = True
                    loop.create_task(self._drain())
                result = await fut
        except (DBAPIError, OSError) as exc:
            if not isinstance(exc, IntegrityError):
                self.failing = (time.monotonic(), type(getattr(exc, "orig", None) or exc).__name__)
            raise
        self.failing = None
        return result

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._queue:
                # One turn of the loop first: the submitters woken by the last
                # group (the group committer with its next batch) join this
                # one, instead of the stragglers already queued taking a
                # commit of their own and the batch waiting for it.
                await asyncio.sleep(0)
                group = self._queue[: self._max_group]
                del self._queue[: self._max_group]
                try:
                    outcomes = await loop.run_in_executor(self._executor, self._run_group, group)
                except asyncio.CancelledError:
                    for _, _, fut in group:
                        fut.cancel()
                    raise
                except BaseException as exc:  # BEGIN or COMMIT failed: nothing of the group is stored
                    outcomes = [(False, exc)] * len(group)
                for (_, _, fut), (ok, value) in zip(group, outcomes):
                    _settle(fut, ok, value)
        finally:
            self._draining = False

    def _connection(self) -> Connection:
        """The writer thread's connection, kept open between groups: taking
        one from the pool and handing it back (with its reset) each time
        cost as much as a group's look-ups."""
        if self._conn is None or self._conn.closed or self._conn.invalidated:
            self._conn = self._sync_engine.connect()
        return self._conn

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # already broken: the pool discards it
                log.debug("closing the writer's connection failed", exc_info=True)

    def _run_group(self, group) -> list[tuple[bool, object]]:
        try:
            return self._run_group_on(self._connection(), group)
        except BaseException:
            # BEGIN, COMMIT or the connection itself failed: start afresh.
            self._drop_connection()
            raise

    def _run_group_on(self, conn: Connection, group) -> list[tuple[bool, object]]:
        if len(group) == 1:
            # Alone: no savepoint. A piece that raises rolls its transaction
            # back and fails alone; the connection is kept unless it broke.
            fn, args, _ = group[0]
            try:
                with conn.begin():
                    return [(True, fn(conn, *args))]
            except Exception as exc:
                if conn.invalidated:
                    raise
                return [(False, exc)]
        outcomes: list[tuple[bool, object]] = []
        with conn.begin():
            # Each piece in a savepoint, set on the driver's connection: through
            # begin_nested() the two statements cost more than a small piece.
            driver = conn.connection.dbapi_connection
            for fn, args, _ in group:
                driver.execute("SAVEPOINT writer_piece")
                try:
                    value = fn(conn, *args)
                except Exception as exc:
                    driver.execute("ROLLBACK TO writer_piece")
                    driver.execute("RELEASE writer_piece")
                    outcomes.append((False, exc))
                else:
                    driver.execute("RELEASE writer_piece")
                    outcomes.append((True, value))
        return outcomes

    async def read(self, fn: Callable[..., T], *args) -> T:
        """``fn(connection, *args)`` in a read-only transaction, for the short
        look-ups on a message's path (by key, through an index). On SQLite it
        runs right here on the event loop's thread: a WAL reader never waits
        for the writer, and such a read takes tens of microseconds, less
        than a hop to another thread and back."""
        if self._sync_engine is None:
            async with self._engine.connect() as conn:
                conn = await conn.execution_options(readonly=True)
                async with conn.begin():
                    return await conn.run_sync(fn, *args)
        if not self._wal:
            # Not in WAL mode (a file system without shared memory, say): a
            # reader may wait for the writer's lock, so not on the loop.
            return await asyncio.get_running_loop().run_in_executor(self._executor, self._read_sync, fn, args)
        return self._read_sync(fn, args)

    async def keys_present(self, column, keys: list) -> set:
        """Which of ``keys`` occur in ``column`` (an indexed text column of a
        model): the cheap first question of a look-up whose answer is
        nearly always "none". On SQLite in WAL mode it is one plain SELECT
        on the event loop's thread (a twentieth of the cost through
        SQLAlchemy); on PostgreSQL one statement, one round trip
        (storage/postgres_fast.py); elsewhere a read as usual."""
        if not keys:
            return set()
        if self._engine.dialect.name == "postgresql":  # its fast path: one round trip
            return await postgres_fast.keys_present(self._engine, column, keys)
        if self._sync_engine is None or not self._wal or not isinstance(column.type, String):
            return await self.read(_keys_present, column, keys)
        return self._key_probe(column, keys)

    @cached_property
    def _key_probe(self) -> KeyProbe:
        if self._closed:
            raise RuntimeError("the writer is closed")
        return KeyProbe(self._sync_engine.url.database, self._sync_engine.dialect)

    def _read_sync(self, fn, args):
        with self._sync_engine.connect() as conn:
            with conn.execution_options(readonly=True).begin():
                return fn(conn, *args)

    @cached_property
    def _wal(self) -> bool:
        raw = self._sync_engine.raw_connection()  # no transaction (ours begin IMMEDIATE)
        try:
            return str(raw.driver_connection.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal"
        finally:
            raw.close()

    async def wait_idle(self) -> None:
        """Until every submitted transaction has run (before ``close``)."""
        while self._draining or self._queue:
            if not self._draining:  # a drain that ended early: start another
                self._draining = True
                asyncio.get_running_loop().create_task(self._drain())
            await asyncio.sleep(0.005)

    def close(self) -> None:
        self._closed = True
        if "_key_probe" in self.__dict__:
            self.__dict__.pop("_key_probe").close()
        if self._executor is not None:
            self._executor.submit(self._drop_connection)  # on its own thread, after what is queued
            self._executor.shutdown(wait=True)
            self._sync_engine.dispose()


def _settle(fut: asyncio.Future, ok: bool, value) -> None:
    if fut.done():
        return
    if ok:
        fut.set_result(value)
    elif isinstance(value, Exception) and not isinstance(value, StopIteration):
        fut.set_exception(value)
    else:  # a future can't carry StopIteration, and SystemExit & co. belong to the process
        fut.set_exception(RuntimeError(f"write failed: {type(value).__name__}"))


class GroupCommitter(Generic[T, R]):
    """Collects concurrent submissions and hands them to ``run`` in batches:
    one call (one transaction) per batch. While a batch commits the next one
    fills up, so batches grow with load and latency stays at about one
    commit. ``run`` returns a result per item in order, or an item's own
    error (it fails only that item's submitter).

    ``lanes`` batches may be in flight at once (PostgreSQL: a batch spends
    most of its time waiting for round trips, which another batch can use;
    SQLite's single writer gains nothing). Items that share a key of
    ``keys(item)`` (a sender, a delivery) are never in two batches in flight
    at once and keep their order: one is recorded, and seen, before the
    next."""

    def __init__(self, run: Callable[[list[T]], Awaitable[list[R | BaseException]]], *, max_batch: int = 256,
                 on_batch: Callable[[int], None] | None = None, lanes: int = 1,
                 keys: Callable[[T], Iterable[Hashable]] | None = None):
        if lanes < 1:
            raise ValueError("lanes must be at least 1")
        if lanes > 1 and keys is None:
            raise ValueError("several lanes need the items' keys")
        self._run_batch = run
        self._on_batch = on_batch
        self._max_batch = max_batch
        self._lanes = lanes
        self._keys = keys
        self._pending: list[tuple[T, asyncio.Future]] = []
        self._in_flight: dict[Hashable, int] = {}  # key → batches in flight holding it
        self._busy = 0  # batches in flight
        self._changed = asyncio.Condition()
        self._task: asyncio.Task | None = None
        self._closing = False
        self.batches = 0
        self.items = 0

    @property
    def running(self) -> bool:
        return self._task is not None and not self._closing

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="group-commit")

    async def submit(self, item: T) -> R:
        if not self.running:
            raise RuntimeError("the group committer is not running")
        fut = asyncio.get_running_loop().create_future()
        self._pending.append((item, fut))
        async with self._changed:
            self._changed.notify()
        return await fut

    async def _run(self) -> None:
        await asyncio.gather(*(self._lane() for _ in range(self._lanes)))

    async def _lane(self) -> None:
        while True:
            async with self._changed:
                while not (batch := self._take()):
                    if self._closing and not self._pending and not self._busy:
                        self._changed.notify_all()
                        return
                    await self._changed.wait()
                self._busy += 1
            try:
                await self._commit(batch)
            finally:
                async with self._changed:
                    self._busy -= 1
                    if self._keys is not None:
                        for item, _ in batch:
                            for key in self._keys(item):
                                if self._in_flight[key] == 1:
                                    del self._in_flight[key]
                                else:
                                    self._in_flight[key] -= 1
                    self._changed.notify_all()

    def _take(self) -> list[tuple[T, asyncio.Future]]:
        """The next batch: the oldest pending items none of whose keys is in
        flight (or held back by an older item left waiting)."""
        if not self._pending:
            return []
        if self._keys is None:
            batch = self._pending[: self._max_batch]
            del self._pending[: self._max_batch]
            return batch
        blocked = set(self._in_flight)
        batch, left = [], []
        for entry in self._pending:
            keys = set(self._keys(entry[0]))
            if len(batch) >= self._max_batch or keys & blocked:
                blocked |= keys
                left.append(entry)
            else:
                batch.append(entry)
        self._pending = left
        for item, _ in batch:
            for key in self._keys(item):
                self._in_flight[key] = self._in_flight.get(key, 0) + 1
        return batch

    async def _commit(self, batch: list[tuple[T, asyncio.Future]]) -> None:
        try:
            results = await self._run_batch([b[0] for b in batch])
        except Exception as exc:  # the submitters fail (WeChat retries); the committer lives on
            # Each submitter's request logs the error (one line, its
            # traceback rate-limited): an outage is not logged twice.
            log.debug("recording a batch of %d failed: %s", len(batch), type(exc).__name__)
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(exc)
            return
        self.batches += 1
        self.items += len(batch)
        if self._on_batch is not None:
            self._on_batch(len(batch))
        for (_, fut), res in zip(batch, results):
            if fut.done():
                continue
            if isinstance(res, BaseException):
                log.error("recording one item failed: %s", type(res).__name__)
                fut.set_exception(res)
            else:
                fut.set_result(res)

    async def close(self) -> None:
        """Finish what was submitted, then stop."""
        self._closing = True
        async with self._changed:
            self._changed.notify_all()
        if self._task:
            await self._task
