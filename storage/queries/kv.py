"""Small shared state for all workers (``kv``): the knowledge base's
revision, the WeChat access token and its lease, the pushed menu."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ..dialects import dialect_insert
from ..models import KeyValue


def get_value(session: Session, key: str) -> str | None:
    return session.execute(select(KeyValue.value).where(KeyValue.key == key)).scalar_one_or_none()


def set_value(session: Session, key: str, value: str) -> None:
    now = datetime.now(timezone.utc)
    stmt = dialect_insert(session, KeyValue).values(key=key, value=value, updated_at=now)
    session.execute(stmt.on_conflict_do_update(
        index_elements=["key"], set_={"value": stmt.excluded.value, "updated_at": stmt.excluded.updated_at}))


def get_with_expiry(session: Session, key: str) -> tuple[str, datetime] | None:
    """(value, expires_at) of a value that expires; None when absent or without an expiry."""
    row = session.execute(select(KeyValue.value, KeyValue.expires_at).where(KeyValue.key == key)).first()
    return (row[0], row[1]) if row and row[1] is not None else None


def put_expiring(session: Session, key: str, value: str, expires_at: datetime) -> None:
    now = datetime.now(timezone.utc)
    stmt = dialect_insert(session, KeyValue).values(key=key, value=value, expires_at=expires_at, updated_at=now)
    session.execute(stmt.on_conflict_do_update(
        index_elements=["key"],
        set_={"value": stmt.excluded.value, "expires_at": stmt.excluded.expires_at, "updated_at": stmt.excluded.updated_at}))


def take_lease(session: Session, key: str, holder: str, until: datetime) -> bool:
    """One atomic upsert: insert the lease, or take it over when it has
    expired; True when ``holder`` holds it afterwards."""
    now = datetime.now(timezone.utc)
    stmt = dialect_insert(session, KeyValue).values(key=key, value=holder, expires_at=until, updated_at=now)
    stmt = stmt.on_conflict_do_update(
        index_elements=["key"],
        set_={"value": stmt.excluded.value, "expires_at": stmt.excluded.expires_at, "updated_at": stmt.excluded.updated_at},
        where=(KeyValue.expires_at < now) | (KeyValue.value == holder),
    ).returning(KeyValue.value)
    return session.execute(stmt).scalar_one_or_none() == holder


def release_lease(session: Session, key: str, holder: str) -> None:
    session.execute(delete(KeyValue).where(KeyValue.key == key, KeyValue.value == holder))
