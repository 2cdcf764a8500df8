"""A case's extensions, ratings and urges."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import Case, CaseExtension, CaseRating, CaseUrge, Contact


def pending_extension(session: Session, case_id: int) -> CaseExtension | None:
    return session.execute(select(CaseExtension).where(
        CaseExtension.case_id == case_id, CaseExtension.status == "pending").with_for_update()).scalar_one_or_none()


def extensions_of(session: Session, case_id: int) -> list[CaseExtension]:
    return list(session.execute(select(CaseExtension).where(CaseExtension.case_id == case_id)
                                .order_by(CaseExtension.id)).scalars())


def ratings_of(session: Session, case_id: int) -> list[CaseRating]:
    return list(session.execute(select(CaseRating).where(CaseRating.case_id == case_id)
                                .order_by(CaseRating.id)).scalars())


def urges_of(session: Session, case_id: int) -> list[CaseUrge]:
    return list(session.execute(select(CaseUrge).where(CaseUrge.case_id == case_id).order_by(CaseUrge.id)).scalars())


def rated_case_of(session: Session, channel: str, identity: str, *, since: datetime) -> Case | None:
    """The sender's case whose answer asked for a rating most recently, since ``since``."""
    return session.execute(
        select(Case).join(Contact, Contact.id == Case.contact_id)
        .where(Contact.channel == channel, Contact.identity == identity, Case.rating_requested_at >= since)
        .order_by(Case.rating_requested_at.desc()).limit(1).with_for_update(of=Case)
    ).scalar_one_or_none()
