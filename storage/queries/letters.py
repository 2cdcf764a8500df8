"""The web letter box's publication (/letters): the consenting writers'
answered letters, and the answer each was given."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from ..models import AuditEntry, Case, Contact, Message


def _published(statuses: Sequence[str]):
    answered_out = exists().where(Message.case_id == Case.id, Message.direction == "out", Message.status == "sent")
    return (Case.publish_consent.is_(True), Case.publish_withheld.is_(False), Case.answered_at.is_not(None),
            Case.status.in_(list(statuses)), Case.merged_into_id.is_(None), answered_out)


def published_page(session: Session, statuses: Sequence[str], *, limit: int,
                   offset: int) -> tuple[list[tuple[Case, str | None]], int]:
    """(case, writer's name) of a page of published letters, newest answer
    first, and how many there are in all. Published: the writer consented,
    staff did not withhold it, the case is answered (``statuses``) and an
    answer was sent."""
    where = _published(statuses)
    total = session.execute(select(func.count()).select_from(Case).where(*where)).scalar_one()
    rows = session.execute(
        select(Case, Contact.name).outerjoin(Contact, Contact.id == Case.contact_id).where(*where)
        .order_by(Case.answered_at.desc(), Case.id.desc()).limit(limit).offset(offset)).all()
    return [(case, name) for case, name in rows], total


def final_answers(session: Session, case_ids: Sequence[int]) -> dict[int, str]:
    """case id → the text of its latest final answer (the reply the audit
    trail records as ``final``), else of its latest reply sent."""
    if not case_ids:
        return {}
    replies = session.execute(
        select(Message.id, Message.case_id, Message.text)
        .where(Message.case_id.in_(case_ids), Message.direction == "out", Message.status == "sent")
        .order_by(Message.id)).all()
    text_of = {mid: text for mid, _, text in replies}
    answers = {case_id: text for _, case_id, text in replies}  # the latest reply, unless a final one is known
    finals: dict[int, str] = {}
    for case_id, detail in session.execute(
            select(AuditEntry.case_id, AuditEntry.detail)
            .where(AuditEntry.case_id.in_(case_ids), AuditEntry.action == "case.replied")
            .order_by(AuditEntry.id)):
        if isinstance(detail, dict) and detail.get("type") == "final" and detail.get("message_id") in text_of:
            finals[case_id] = text_of[detail["message_id"]]
    return {**answers, **finals}
