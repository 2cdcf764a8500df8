"""12345 orders and the platform's events: which events were applied, the
cases of a batch's orders, an event recorded once."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from ..dialects import insert_for
from ..models import Case, HotlineEvent


def applied_events(session: Session, event_ids: Iterable[str]) -> set[str]:
    ids = list(set(event_ids))
    if not ids:
        return set()
    return set(session.execute(select(HotlineEvent.event_id).where(HotlineEvent.event_id.in_(ids))).scalars())


def orders_by_id(session: Session, order_ids: Iterable[str]) -> dict[str, Case]:
    """order id → its case, locked for this transaction (the events change them)."""
    ids = list(set(order_ids))
    if not ids:
        return {}
    rows = session.execute(select(Case).where(Case.channel == "hotline", Case.external_id.in_(ids))
                           .order_by(Case.id).with_for_update()).scalars()
    return {case.external_id: case for case in rows}


_RECORD = {name: insert_for(name, HotlineEvent).on_conflict_do_nothing(index_elements=["event_id"])
           for name in ("sqlite", "postgresql")}


def record_event(conn: Connection, *, event_id: str, order_id: str, type: str, at: datetime, case_id: int,
                 applied_at: datetime) -> bool:
    """False when another transaction recorded this event first. On the
    Core connection: no ORM flush is set off for each event."""
    done = conn.execute(_RECORD[conn.dialect.name], {"event_id": event_id, "order_id": order_id, "type": type,
                                                     "at": at, "case_id": case_id, "applied_at": applied_at})
    return bool(done.rowcount)


def forget_event(conn: Connection, event_id: str) -> None:
    """Take back the record of an event that was then refused."""
    conn.execute(delete(HotlineEvent).where(HotlineEvent.event_id == event_id))
