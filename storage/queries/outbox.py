"""The outbox: deliveries that leave through a machine (12345 messages,
WeChat customer-service messages), written in the transaction of the change
that caused them and delivered by bot/outbound/outbox.py."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, bindparam, exists, func, or_, select, update
from sqlalchemy.orm import Session, aliased
from sqlalchemy.orm.attributes import set_committed_value

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


# Targets whose messages about one case must arrive in order (the 12345
# platform refuses a result before the 签收): a message waits while an
# earlier one of its case is still on its way.
IN_ORDER = ("hotline",)

_EARLIER = aliased(OutboxItem)
# Built once: the worker asks it every poll. Parameters: now, targets.
_DUE = and_(
    OutboxItem.status == "pending", OutboxItem.target.in_(bindparam("targets", expanding=True)),
    OutboxItem.next_attempt_at <= bindparam("now"),
    or_(OutboxItem.locked_until.is_(None), OutboxItem.locked_until < bindparam("now")),
    or_(OutboxItem.target.not_in(IN_ORDER), OutboxItem.case_id.is_(None),
        ~exists().where(_EARLIER.case_id == OutboxItem.case_id, _EARLIER.target == OutboxItem.target,
                        _EARLIER.id < OutboxItem.id, _EARLIER.status == "pending")),
)
_ANY_DUE = select(OutboxItem.id).where(_DUE).limit(1)
_NEXT = select(OutboxItem).where(_DUE).order_by(OutboxItem.next_attempt_at, OutboxItem.id)


def any_due(session: Session, now: datetime, targets: list[str]) -> bool:
    return session.execute(_ANY_DUE, {"now": now, "targets": targets}).first() is not None


def claim(session: Session, now: datetime, targets: list[str], *, limit: int, lease: datetime) -> list[OutboxItem]:
    """Lease up to ``limit`` due items (PostgreSQL: FOR UPDATE SKIP LOCKED;
    SQLite's writer already serialises claimers). An attempt is counted at
    claim time: a crash mid-send still uses one up."""
    stmt = _NEXT.limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    items = list(session.execute(stmt, {"now": now, "targets": targets}).scalars())
    if items:
        session.execute(update(OutboxItem).where(OutboxItem.id.in_([i.id for i in items]))
                        .values(attempts=OutboxItem.attempts + 1, locked_until=lease)
                        .execution_options(synchronize_session=False))
        for item in items:  # what the statement wrote, known to the objects without another read
            set_committed_value(item, "attempts", item.attempts + 1)
            set_committed_value(item, "locked_until", lease)
    return items


def settle(session: Session, item_id: int, lease: datetime, **values) -> bool:
    """Change an item only while our lease holds: a worker that lost it records nothing."""
    done = session.execute(update(OutboxItem).where(
        OutboxItem.id == item_id, OutboxItem.status == "pending", OutboxItem.locked_until == lease).values(**values))
    return bool(done.rowcount)


def settle_sent(session: Session, item_ids: list[int], lease: datetime, now: datetime) -> list[int]:
    """Mark delivered, in one statement, the items we still hold the lease
    of; the message ids of those that carry a message (to mark sent too)."""
    if not item_ids:
        return []
    done = session.execute(
        update(OutboxItem).where(OutboxItem.id.in_(item_ids), OutboxItem.status == "pending",
                                 OutboxItem.locked_until == lease)
        .values(status="sent", sent_at=now, locked_until=None, last_error=None)
        .returning(OutboxItem.message_id).execution_options(synchronize_session=False))
    return [m for m in done.scalars() if m is not None]


def set_messages_sent(session: Session, message_ids: list[int]) -> None:
    if message_ids:
        session.execute(update(Message).where(Message.id.in_(message_ids)).values(status="sent", error=None)
                        .execution_options(synchronize_session=False))


def wechat_sent_since(session: Session, contact_id: int, since: datetime) -> int:
    """Customer-service messages queued or sent to a WeChat user since ``since``."""
    return session.execute(
        select(func.count()).select_from(OutboxItem).join(Case, Case.id == OutboxItem.case_id)
        .where(Case.contact_id == contact_id, OutboxItem.target == "wechat", OutboxItem.created_at >= since,
               OutboxItem.status.in_(("pending", "sent")))
    ).scalar_one()
