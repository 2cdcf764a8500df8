"""The outbox: deliveries that leave through a machine (12345 messages,
WeChat customer-service messages), written in the transaction of the change
that caused them and delivered by bot/outbound/outbox.py."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from ..models import Case, Message, OutboxItem

STATUSES = ("pending", "sent", "failed")


def enqueue(session: Session, target: str, *, case_id: int | None, message_id: int | None, payload: dict,
            now: datetime) -> OutboxItem:
    item = OutboxItem(target=target, case_id=case_id, message_id=message_id, payload=payload, status="pending",
                      attempts=0, next_attempt_at=now)
    session.add(item)
    return item


def payloads_queued_for(session: Session, case_id: int, target: str) -> list[dict]:
    """The payloads of this case's deliveries to ``target`` on their way or done."""
    return list(session.execute(select(OutboxItem.payload).where(
        OutboxItem.case_id == case_id, OutboxItem.target == target,
        OutboxItem.status.in_(("pending", "sent")))).scalars())


def last_payload_of(session: Session, message_id: int) -> dict | None:
    return session.execute(select(OutboxItem.payload).where(OutboxItem.message_id == message_id)
                           .order_by(OutboxItem.id.desc()).limit(1)).scalar_one_or_none()


def listing(session: Session, *, status: str | None, target: str | None, case_id: int | None, limit: int,
            before_id: int | None) -> tuple[list[tuple[OutboxItem, str | None]], int, dict[str, int]]:
    """A page of (item, case number), newest first; the total matching; counts by status."""
    stmt = select(OutboxItem, Case.number).outerjoin(Case, Case.id == OutboxItem.case_id)
    if status:
        stmt = stmt.where(OutboxItem.status == status)
    if target:
        stmt = stmt.where(OutboxItem.target == target)
    if case_id:
        stmt = stmt.where(OutboxItem.case_id == case_id)
    total = session.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
    counts = dict(session.execute(select(OutboxItem.status, func.count()).group_by(OutboxItem.status)).all())
    page = stmt.order_by(OutboxItem.id.desc()).limit(limit)
    if before_id is not None:
        page = page.where(OutboxItem.id < before_id)
    return [tuple(r) for r in session.execute(page)], total, counts


def set_message_status(session: Session, message_id: int, status: str, error: str | None = None) -> None:
    session.execute(update(Message).where(Message.id == message_id).values(status=status, error=error))


def due(now: datetime, targets: list[str]):
    return and_(
        OutboxItem.status == "pending", OutboxItem.target.in_(targets), OutboxItem.next_attempt_at <= now,
        or_(OutboxItem.locked_until.is_(None), OutboxItem.locked_until < now),
    )


def any_due(session: Session, now: datetime, targets: list[str]) -> bool:
    return session.execute(select(OutboxItem.id).where(due(now, targets)).limit(1)).first() is not None


def claim(session: Session, now: datetime, targets: list[str], *, limit: int, lease: datetime) -> list[OutboxItem]:
    """Lease up to ``limit`` due items (PostgreSQL: FOR UPDATE SKIP LOCKED;
    SQLite's writer already serialises claimers). An attempt is counted at
    claim time: a crash mid-send still uses one up."""
    stmt = select(OutboxItem).where(due(now, targets)).order_by(OutboxItem.next_attempt_at, OutboxItem.id).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    items = list(session.execute(stmt).scalars())
    for item in items:
        item.attempts += 1
        item.locked_until = lease
    return items


def settle(session: Session, item_id: int, lease: datetime, **values) -> bool:
    """Change an item only while our lease holds: a worker that lost it records nothing."""
    done = session.execute(update(OutboxItem).where(
        OutboxItem.id == item_id, OutboxItem.status == "pending", OutboxItem.locked_until == lease).values(**values))
    return bool(done.rowcount)


def wechat_sent_since(session: Session, contact_id: int, since: datetime) -> int:
    """Customer-service messages queued or sent to a WeChat user since ``since``."""
    return session.execute(
        select(func.count()).select_from(OutboxItem).join(Case, Case.id == OutboxItem.case_id)
        .where(Case.contact_id == contact_id, OutboxItem.target == "wechat", OutboxItem.created_at >= since,
               OutboxItem.status.in_(("pending", "sent")))
    ).scalar_one()
