"""What the progress look-up (/track) reads of a case: the case by its
number, the replies sent to the citizen with the type each was sent as,
and whether the current answer has been rated."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..models import AuditEntry, Case, CaseRating, Message


def case_by_number(session: Session, number: str, *, for_update: bool = False) -> Case | None:
    stmt = select(Case).where(Case.number == number)
    if for_update:
        stmt = stmt.with_for_update()
    return session.execute(stmt).scalar_one_or_none()


def replies_sent(session: Session, case_id: int) -> list[tuple[datetime, str, str | None]]:
    """(when, text, reply type) of each message that went out to the citizen,
    oldest first. The type (final, interim, request_info) is what the staff
    member sent it as, recorded in the audit trail's ``case.replied``; None
    for a message no person sent (a receipt, an automatic answer)."""
    rows = session.execute(
        select(Message.id, Message.created_at, Message.text)
        .where(Message.case_id == case_id, Message.direction == "out", Message.status == "sent")
        .order_by(Message.id)).all()
    if not rows:
        return []
    types: dict[int, str] = {}
    for detail in session.execute(select(AuditEntry.detail).where(
            AuditEntry.case_id == case_id, AuditEntry.action == "case.replied")).scalars():
        if isinstance(detail, dict) and isinstance(detail.get("message_id"), int):
            types[detail["message_id"]] = detail.get("type")
    return [(at, text or "", types.get(message_id)) for message_id, at, text in rows]


def ratings_of_round(session: Session, case_id: int, round_: int) -> int:
    """How many ratings the answer of this round (re-handlings before it) has."""
    return session.execute(select(func.count()).select_from(CaseRating).where(
        CaseRating.case_id == case_id, CaseRating.round == round_)).scalar_one()
