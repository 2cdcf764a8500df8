"""The fast path on PostgreSQL: many rows inserted in one statement whose
text never changes, ``INSERT … SELECT * FROM unnest($1::type[], …)``, one
array of values per column; and the key probe of the message path in one
round trip (``keys_present``).

Through SQLAlchemy's executemany, asyncpg sends an INSERT per row (the
server binds and executes each: for the messages and audit rows of a
batch, three to four per message), and SQLAlchemy's multi-row VALUES has a
different text, so a new prepared statement and plan, for every number of
rows. Here a batch of any size is one execution of one prepared statement.

SQLAlchemy still supplies everything else: the column types (compiled by
the dialect), every value's conversion (the types' own bind processors),
the models' Python-side defaults, and the execution itself
(``exec_driver_sql``: the transaction, error translation and hidden
parameters are its own). SQLite takes storage/sqlite_fast.py.
tests/storage/test_postgres_fast.py holds it to SQLAlchemy's own insert()
of the same rows, and the probe to the plain read.
"""

from __future__ import annotations

import asyncpg
from sqlalchemy import Table
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from .dialects import fast_insert_columns


class UnnestInsert:
    """INSERT of many rows into ``table`` on PostgreSQL, in one statement.

    ``returning`` names columns to return, one tuple per row (in no promised
    order: match rows by a unique column). Every row must have the same
    keys; columns left out take their Python-side default (a value or a
    function of nothing) or the database's own (the id's sequence).
    """

    def __init__(self, table: Table, returning: tuple[str, ...] = ()):
        self.table = table
        self.returning = returning
        self._plans: dict[tuple, tuple] = {}

    def __call__(self, conn: Connection, rows: list[dict]) -> list[tuple]:
        if conn.dialect.name != "postgresql":
            raise ValueError("UnnestInsert is for PostgreSQL")
        if not rows:
            return []
        keys = tuple(rows[0])
        sql, columns, extra = self._plans.get((conn.dialect, keys)) or self._plan(conn.dialect, keys)
        arrays: list[list] = [[] for _ in columns]
        for row in rows:
            if len(row) != len(keys):
                raise ValueError(f"{self.table.name}: every row must have the same keys")
            try:
                values = [row[k] for k in keys]
            except KeyError:
                raise ValueError(f"{self.table.name}: every row must have the same keys") from None
            values += [default.arg(None) if default.is_callable else default.arg for default in extra]
            for array, (_, convert), value in zip(arrays, columns, values):
                array.append(convert(value) if convert is not None else value)
        result = conn.exec_driver_sql(sql, tuple(arrays))
        return [tuple(r) for r in result] if self.returning else []

    def _plan(self, dialect, keys: tuple) -> tuple:
        table = self.table
        given, extra = fast_insert_columns(table, keys)
        cols = given + extra
        quote = dialect.identifier_preparer.quote
        # Each value converted as SQLAlchemy would bind it (its own processor, None included).
        columns = [(c, c.type.dialect_impl(dialect).bind_processor(dialect)) for c in cols]
        casts = ", ".join(f"${i}::{c.type.dialect_impl(dialect).compile(dialect=dialect)}[]"
                          for i, c in enumerate(cols, start=1))
        sql = (f"INSERT INTO {quote(table.name)} ({', '.join(quote(c.name) for c in cols)}) "
               f"SELECT * FROM unnest({casts})")
        if self.returning:
            sql += " RETURNING " + ", ".join(quote(table.c[n].name) for n in self.returning)
        plan = (sql, columns, [c.default for c in extra])
        self._plans[(dialect, keys)] = plan
        return plan


async def keys_present(engine: AsyncEngine, column, keys: list) -> set:
    """Which of ``keys`` occur in ``column`` (an indexed column of a model):
    the cheap first question of a look-up whose answer is nearly always
    "none" (is this sender in the middle of a dialog?). One statement on its
    own (``= ANY($1)``: one text, one plan, for any number of keys) on a
    pooled connection's asyncpg connection, outside a transaction: one
    round trip, where a read transaction through SQLAlchemy takes three
    (BEGIN, the SELECT, COMMIT). A single SELECT needs no transaction to
    see one snapshot."""
    dialect = engine.dialect
    quote = dialect.identifier_preparer.quote
    sql_type = column.type.dialect_impl(dialect).compile(dialect=dialect)
    sql = (f"SELECT {quote(column.name)} FROM {quote(column.table.name)} "
           f"WHERE {quote(column.name)} = ANY($1::{sql_type}[])")
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        driver = raw.driver_connection
        try:
            rows = await driver.fetch(sql, list(keys))
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            if driver.is_closed():  # the pool must not hand it out again
                await conn.invalidate()
            # As SQLAlchemy would raise it, values hidden.
            raise DBAPIError.instance(sql, None, exc, Exception, hide_parameters=True, dialect=dialect) from exc
    return {row[0] for row in rows}
