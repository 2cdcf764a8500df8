"""The fast path: the message path's statements on SQLite without
SQLAlchemy's per-statement machinery, which costs more than SQLite's own
work there. SQLAlchemy still writes the SQL (compiled once per shape) and
supplies every value's conversion (the column types' processors, through
its public API), and errors are still SQLAlchemy's. Other databases go
through SQLAlchemy as usual. tests/storage/test_sqlite_fast.py holds both
classes to SQLAlchemy's own execution of the same statements.
"""

from __future__ import annotations

import operator
import sqlite3
from datetime import datetime, timedelta, timezone
from urllib.parse import quote as quote_path

from sqlalchemy import BindParameter, insert
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import visitors

from .dialects import fast_insert_columns
from .types import UTCDateTime

SQLITE_MAX_VARIABLES = 999  # bound values in one statement: the limit of SQLite's older builds


def _sqlite_run(conn: Connection, sql: str, params, *, many: bool = False) -> list[tuple]:
    """``sql`` on the connection's own DBAPI cursor, inside its current
    transaction: none of SQLAlchemy's per-statement machinery (on the intake
    path it cost more than SQLite's work). A driver error is raised as
    SQLAlchemy's (IntegrityError and so on), parameters hidden."""
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        if many:
            cursor.executemany(sql, params)
            return []
        cursor.execute(sql, params)
        return cursor.fetchall()
    except conn.dialect.loaded_dbapi.Error as exc:
        raise DBAPIError.instance(sql, params, exc, conn.dialect.loaded_dbapi.Error, hide_parameters=True,
                                  dialect=conn.dialect) from exc
    finally:
        cursor.close()


class Prepared:
    """A Core statement (SELECT, INSERT, UPDATE; RETURNING allowed) for the
    intake path, run on SQLite's own cursor: SQLAlchemy compiles it and
    supplies every bind and result conversion, once per shape (the keys
    given, the length of each expanding IN list); an execution then only
    orders the values, converts them and runs the SQL, a tenth of
    ``conn.execute``'s cost. Other databases take ``conn.execute``.

    Called with one dict of parameters it returns the rows as tuples; with
    a list of dicts (no RETURNING) it runs them as one executemany.
    """

    def __init__(self, stmt):
        self.stmt = stmt
        self._expanding = tuple(sorted({
            e.key for e in visitors.iterate(stmt) if isinstance(e, BindParameter) and e.expanding}))
        self._returns = bool(getattr(stmt, "returning_column_descriptions", ()))
        self._plans: dict[tuple, tuple] = {}

    def __call__(self, conn: Connection, params: dict | list[dict]) -> list[tuple]:
        many = isinstance(params, list)
        if conn.dialect.name != "sqlite":
            result = conn.execute(self.stmt, params)
            return [] if many else ([tuple(r) for r in result] if result.returns_rows else [])
        if many and not params:
            return []
        first = params[0] if many else params
        shape = (conn.dialect, tuple(first), tuple(len(first[k]) for k in self._expanding))
        sql, slots, results = self._plans.get(shape) or self._plan(shape, first, many)
        if many:
            _sqlite_run(conn, sql, [self._args(slots, p) for p in params], many=True)
            return []
        rows = _sqlite_run(conn, sql, self._args(slots, params))
        if results:
            return [tuple(f(v) if f is not None else v for f, v in zip(results, row)) for row in rows]
        return rows

    @staticmethod
    def _args(slots, params: dict) -> tuple:
        # A slot: (name, index into an expanded list or None, conversion) or
        # (None, the statement's own literal value, None).
        out = []
        for name, index, convert in slots:
            if name is None:
                out.append(index)
                continue
            value = params[name] if index is None else params[name][index]
            out.append(convert(value) if convert is not None else value)
        return tuple(out)

    def _plan(self, shape: tuple, params: dict, many: bool) -> tuple:
        dialect, keys, lengths = shape
        if any(n == 0 for n in lengths):
            raise ValueError("an empty IN list: ask nothing instead")
        if many and self._returns:
            raise ValueError("RETURNING with several rows: SQLite gives no order to match them by")
        compiled = self.stmt.compile(dialect=dialect, column_keys=list(keys))
        state = compiled.construct_expanded_state(params)
        if not dialect.positional or state.positiontup is None or compiled.escaped_bind_names:
            raise ValueError("expected positional parameters under their own names")
        expanded_from = {n: (orig, i) for orig, names in state.parameter_expansion.items()
                         for i, n in enumerate(names)}

        def own(name: str):  # a parameter's conversion, by its type; an expanded list's items take its list's
            bind = compiled.binds.get(name)
            return bind.type.dialect_impl(dialect).bind_processor(dialect) if bind is not None else None

        slots = []
        for name in state.positiontup:
            if name in expanded_from:
                orig, i = expanded_from[name]
                slots.append((orig, i, state.processors.get(name) or own(orig)))
                continue
            convert = own(name)
            if name in params:
                slots.append((name, None, convert))
            else:  # a literal of the statement itself (x == 5 binds 5)
                value = state.parameters[name]
                slots.append((None, convert(value) if convert is not None else value, None))
        results = tuple(t.dialect_impl(dialect).result_processor(dialect, None) for t in self._result_types())
        plan = (state.statement, tuple(slots), results if any(results) else ())
        self._plans[shape] = plan
        return plan

    def _result_types(self) -> list:
        """The types of what a row holds: the selected columns, or RETURNING's."""
        if self._returns:
            return [d["type"] for d in self.stmt.returning_column_descriptions]
        columns = getattr(self.stmt, "selected_columns", None)
        return [c.type for c in columns] if columns is not None else []


def _bind_processor(type_, dialect):
    """The column type's bind processor; for ``UTCDateTime`` on SQLite one
    function doing what its two layers do (the same text, checked once on a
    sample against SQLAlchemy's own)."""
    own = type_.dialect_impl(dialect).bind_processor(dialect)
    if dialect.name != "sqlite" or not isinstance(type_, UTCDateTime):
        return own
    sample = datetime(987, 6, 5, 4, 3, 2, 1, tzinfo=timezone(timedelta(hours=8)))
    if own is None or own(sample) != _sqlite_utc_text(sample) or own(sample.replace(microsecond=0)) != \
            _sqlite_utc_text(sample.replace(microsecond=0)):
        return own
    return _sqlite_utc_text


def _sqlite_utc_text(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is not timezone.utc:  # most are already in UTC
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(timezone.utc)
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


class BulkInsert:
    """INSERT of many rows for the intake path, without SQLAlchemy's
    per-row statement machinery on SQLite: the SQL and every value's
    conversion come from SQLAlchemy (the column types' own bind processors
    and the models' defaults), prepared once per set of keys; rows then go
    to the connection's sqlite3 cursor as plain values (``_sqlite_run``:
    errors are still SQLAlchemy's, and parameters stay hidden). Other
    databases take the ordinary ``insert()`` path.

    ``returning`` names columns to return, one tuple per row (SQLite does
    not promise their order).
    """

    def __init__(self, table, returning: tuple[str, ...] = ()):
        self.table = table
        self.returning = returning
        self._plans: dict[tuple, tuple] = {}
        self._core = insert(table).returning(*(table.c[n] for n in returning)) if returning else insert(table)

    def __call__(self, conn: Connection, rows: list[dict]) -> list[tuple]:
        if not rows:
            return []
        keys = tuple(rows[0])
        if any(len(row) != len(keys) for row in rows):  # same keys: see the loop below
            raise ValueError(f"{self.table.name}: every row must have the same keys")
        plan = self._plans.get((conn.dialect, keys)) or self._plan(conn.dialect, keys)
        if conn.dialect.name != "sqlite":
            if any(row.keys() != rows[0].keys() for row in rows):
                raise ValueError(f"{self.table.name}: every row must have the same keys")
            result = conn.execute(self._core, rows)
            return [tuple(r) for r in result] if self.returning else []
        get, extra, convert, head, row_sql, per_chunk = plan
        params = []
        for row in rows:
            try:  # as many keys as the first row (checked above), and each of its keys
                values = list(get(row))
            except KeyError:
                raise ValueError(f"{self.table.name}: every row must have the same keys") from None
            if extra:
                values += [default.arg(None) if default.is_callable else default.arg for default in extra]
            for i, process in convert:
                values[i] = process(values[i])
            params.append(values)
        if not self.returning:
            _sqlite_run(conn, head + row_sql, params, many=True)
            return []
        out: list[tuple] = []
        tail = " RETURNING " + ", ".join(self._quote(conn.dialect, n) for n in self.returning)
        for start in range(0, len(params), per_chunk):
            chunk = params[start:start + per_chunk]
            sql = head + ", ".join([row_sql] * len(chunk)) + tail
            out.extend(_sqlite_run(conn, sql, tuple(v for row in chunk for v in row)))
        return out  # in no promised order: match rows by a unique column

    @staticmethod
    def _quote(dialect, name: str) -> str:
        return dialect.identifier_preparer.quote(name)

    def _plan(self, dialect, keys: tuple) -> tuple:
        table = self.table
        given, extra = fast_insert_columns(table, keys)
        columns = given + extra
        processors = [_bind_processor(c.type, dialect) for c in columns]
        convert = tuple((i, p) for i, p in enumerate(processors) if p is not None)
        get = operator.itemgetter(*keys) if len(keys) > 1 else (lambda row, key=keys[0]: (row[key],))
        names = ", ".join(self._quote(dialect, c.name) for c in columns)
        head = f"INSERT INTO {self._quote(dialect, table.name)} ({names}) VALUES "
        row_sql = "(" + ", ".join("?" * len(columns)) + ")"
        per_chunk = max(1, SQLITE_MAX_VARIABLES // len(columns))
        plan = (get, [c.default for c in extra], convert, head, row_sql, per_chunk)
        self._plans[(dialect, keys)] = plan  # per dialect instance: their type processors may differ
        return plan


class KeyProbe:
    """Which of some keys an indexed text column holds, asked on a plain
    read-only sqlite3 connection on the calling thread (each SELECT its own
    read transaction): the cheap first question of a look-up whose answer is
    nearly always "none" (is this sender in the middle of a dialog?), at a
    twentieth of the cost through SQLAlchemy. For a database in WAL mode,
    where a reader never waits for the writer. It never creates the file."""

    def __init__(self, path: str, dialect):
        self._quote = dialect.identifier_preparer.quote
        self._conn = sqlite3.connect(f"file:{quote_path(path)}?mode=rw", uri=True, isolation_level=None,
                                     check_same_thread=False)
        self._conn.execute("PRAGMA query_only=ON")
        self._conn.execute("PRAGMA busy_timeout=10000")

    def __call__(self, column, keys: list) -> set:
        q = self._quote
        head = f"SELECT {q(column.name)} FROM {q(column.table.name)} WHERE {q(column.name)} IN "
        found: set = set()
        for i in range(0, len(keys), SQLITE_MAX_VARIABLES):
            chunk = keys[i : i + SQLITE_MAX_VARIABLES]
            sql = head + f"({','.join('?' * len(chunk))})"
            try:
                found.update(row[0] for row in self._conn.execute(sql, chunk))
            except sqlite3.Error as exc:  # as SQLAlchemy would raise it, values hidden
                raise DBAPIError.instance(sql, chunk, exc, sqlite3.Error, hide_parameters=True) from exc
        return found

    def close(self) -> None:
        self._conn.close()
