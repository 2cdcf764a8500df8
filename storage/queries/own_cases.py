"""A citizen's own cases, found by who they are on a channel (a WeChat
OpenID): the recent ones, one by number (only if it is theirs), and the
replies staff sent on it."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import Case, Contact, Message

_CASE_COLUMNS = (Case.id, Case.number, Case.status, Case.kind, Case.received_at, Case.deadline_at, Case.answered_at)


def recent_cases(session: Session, channel: str, identity: str, limit: int) -> list[tuple]:
    """(id, number, status, kind, received_at, deadline_at, answered_at) of
    the person's latest cases, newest first."""
    return [tuple(r) for r in session.execute(
        select(*_CASE_COLUMNS).join(Contact, Contact.id == Case.contact_id)
        .where(Contact.channel == channel, Contact.identity == identity)
        .order_by(Case.received_at.desc(), Case.id.desc()).limit(limit))]


def own_case(session: Session, channel: str, identity: str, number: str) -> tuple | None:
    """The case with ``number`` if it is this person's; None otherwise
    (unknown and someone else's alike)."""
    row = session.execute(
        select(*_CASE_COLUMNS).join(Contact, Contact.id == Case.contact_id)
        .where(Case.number == number, Contact.channel == channel, Contact.identity == identity)).first()
    return tuple(row) if row is not None else None


def replies_sent(session: Session, case_id: int, limit: int = 20) -> list[tuple]:
    """(text, created_at) of the replies staff wrote to the citizen on the
    case, oldest first (automatic receipts and drafts are not replies)."""
    rows = session.execute(
        select(Message.text, Message.created_at)
        .where(Message.case_id == case_id, Message.direction == "out", Message.author_id.is_not(None),
               Message.status != "draft")
        .order_by(Message.id.desc()).limit(limit)).all()
    return [tuple(r) for r in reversed(rows)]
