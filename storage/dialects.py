"""INSERT … ON CONFLICT for the two databases we run on."""

from __future__ import annotations

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session


def insert_for(dialect_name: str, table):
    """INSERT with ON CONFLICT support for a dialect ("sqlite" or "postgresql")."""
    return (postgresql.insert if dialect_name == "postgresql" else sqlite.insert)(table)


def dialect_insert(conn: Connection | Session, table):
    """INSERT with ON CONFLICT support for the connection's (or session's) dialect."""
    return insert_for(conn.get_bind().dialect.name if isinstance(conn, Session) else conn.dialect.name, table)
