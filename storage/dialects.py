"""INSERT for the two databases we run on: ON CONFLICT, and the columns
that the fast paths' own INSERTs (sqlite_fast, postgres_fast) write."""

from __future__ import annotations

import inspect

from sqlalchemy import Column, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session


def insert_for(dialect_name: str, table):
    """INSERT with ON CONFLICT support for a dialect ("sqlite" or "postgresql")."""
    return (postgresql.insert if dialect_name == "postgresql" else sqlite.insert)(table)


def dialect_insert(conn: Connection | Session, table):
    """INSERT with ON CONFLICT support for the connection's (or session's) dialect."""
    return insert_for(conn.get_bind().dialect.name if isinstance(conn, Session) else conn.dialect.name, table)


def fast_insert_columns(table: Table, keys: tuple) -> tuple[list[Column], list[Column]]:
    """(the columns named by ``keys``, the others filled from their
    Python-side defaults) of a fast-path INSERT of rows with ``keys``.
    Raises KeyError for a key that is no column, ValueError for a default
    that only SQLAlchemy's insert can compute (a sequence, a function of the
    row): such a column must be given a value."""
    unknown = [k for k in keys if k not in table.c]
    if unknown:
        raise KeyError(f"{table.name} has no column {unknown}")
    extra = [c for c in table.c if c.key not in keys and c.default is not None and not c.primary_key]
    for c in extra:  # a value, or a function of nothing (inspect sees through SQLAlchemy's wrapper)
        d = c.default
        plain = d.is_scalar or (d.is_callable and not inspect.signature(d.arg).parameters)
        if not plain or getattr(d, "is_sequence", False):
            raise ValueError(f"{table.name}.{c.name}: its default needs SQLAlchemy's insert; give a value")
    return [table.c[k] for k in keys], extra
