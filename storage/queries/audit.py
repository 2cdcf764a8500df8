"""The audit trail: append-only (database triggers refuse UPDATE and DELETE)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import AuditEntry


def add(session: Session, actor: str, action: str, case_id: int | None = None, **detail) -> None:
    session.add(AuditEntry(actor=actor, action=action, case_id=case_id, detail=detail))


def of_case(session: Session, case_id: int) -> list[AuditEntry]:
    return list(session.execute(select(AuditEntry).where(AuditEntry.case_id == case_id).order_by(AuditEntry.id)).scalars())
