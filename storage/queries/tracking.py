"""What the progress look-up (/track) reads of a case: its facts by number,
the replies sent to the citizen with the type each was sent as, and whether
the current answer has been rated. Prepared statements (storage/
sqlite_fast.py) on the transaction's connection: every look-up runs them."""

from __future__ import annotations

from datetime import date, datetime
from typing import NamedTuple

from sqlalchemy import bindparam, func, select
from sqlalchemy.engine import Connection

from ..models import AuditEntry, Case, CaseRating, Message
from ..sqlite_fast import Prepared


class CaseFacts(NamedTuple):
    """The columns the look-up needs (no text, contact, assignee, notes)."""

    id: int
    number: str
    status: str
    received_date: date
    deadline_at: datetime | None
    deadline_days: int | None
    extended_days: int
    answered_at: datetime | None
    reopened: int
    tracking_code_hash: str | None


_FACTS = Prepared(select(*(getattr(Case, name) for name in CaseFacts._fields))
                  .where(Case.number == bindparam("number")))
_SENT = Prepared(select(Message.id, Message.created_at, Message.text)
                 .where(Message.case_id == bindparam("case_id"), Message.direction == "out",
                        Message.status == "sent").order_by(Message.id))
_REPLIED = Prepared(select(AuditEntry.detail).where(AuditEntry.case_id == bindparam("case_id"),
                                                    AuditEntry.action == "case.replied"))
_RATINGS = Prepared(select(func.count()).select_from(CaseRating).where(
    CaseRating.case_id == bindparam("case_id"), CaseRating.round == bindparam("round")))


def case_facts(conn: Connection, number: str) -> CaseFacts | None:
    rows = _FACTS(conn, {"number": number})
    return CaseFacts(*rows[0]) if rows else None


def replies_sent(conn: Connection, case_id: int) -> list[tuple[datetime, str, str | None]]:
    """(when, text, reply type) of each message that went out to the citizen,
    oldest first. The type (final, interim, request_info) is what the staff
    member sent it as, recorded in the audit trail's ``case.replied``; None
    for a message no person sent (a receipt, an automatic answer)."""
    rows = _SENT(conn, {"case_id": case_id})
    if not rows:
        return []
    types: dict[int, str] = {}
    for (detail,) in _REPLIED(conn, {"case_id": case_id}):
        if isinstance(detail, dict) and isinstance(detail.get("message_id"), int):
            types[detail["message_id"]] = detail.get("type")
    return [(at, text or "", types.get(message_id)) for message_id, at, text in rows]


def ratings_of_round(conn: Connection, case_id: int, round_: int) -> int:
    """How many ratings the answer of this round (re-handlings before it) has."""
    return _RATINGS(conn, {"case_id": case_id, "round": round_})[0][0]
