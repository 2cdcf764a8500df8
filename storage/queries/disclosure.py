"""Disclosure requests' legal files and their reviews."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import Case, DisclosureRequest, DisclosureReview


def request_of_case(session: Session, case_id: int) -> DisclosureRequest | None:
    return session.execute(select(DisclosureRequest).where(DisclosureRequest.case_id == case_id)).scalar_one_or_none()


def open_request_exists(session: Session, case_id: int) -> bool:
    """A registered request on the case that is not answered yet."""
    return session.execute(select(DisclosureRequest.id).where(
        DisclosureRequest.case_id == case_id, DisclosureRequest.outcome.is_(None))).first() is not None


def unregistered_second_requests(session: Session, kind: str, statuses, limit: int) -> list[tuple]:
    """(id, number, received_at, channel, case kind) of the cases in one of
    ``statuses`` whose second request (``secondary_kind``) is ``kind`` and
    that have no legal file: a disclosure request asked for beside a
    complaint, say, which staff must still weigh."""
    return [tuple(r) for r in session.execute(
        select(Case.id, Case.number, Case.received_at, Case.channel, Case.kind)
        .outerjoin(DisclosureRequest, DisclosureRequest.case_id == Case.id)
        .where(Case.secondary_kind == kind, Case.kind != kind, Case.status.in_(list(statuses)),
               DisclosureRequest.id.is_(None), Case.merged_into_id.is_(None))
        .order_by(Case.received_at).limit(limit))]


def requests_by_urgency(session: Session, limit: int) -> list[tuple[DisclosureRequest, str]]:
    """(request, case number): open ones first, nearest answer deadline first."""
    D = DisclosureRequest
    return [tuple(r) for r in session.execute(
        select(D, Case.number).join(Case, Case.id == D.case_id)
        .order_by(D.outcome.is_not(None), D.answer_due.is_(None), D.answer_due, D.id.desc()).limit(limit))]


def unregistered_cases(session: Session, kind: str, limit: int) -> list[tuple]:
    """(id, number, received_at, channel) of cases of ``kind`` with no legal file."""
    return [tuple(r) for r in session.execute(
        select(Case.id, Case.number, Case.received_at, Case.channel)
        .outerjoin(DisclosureRequest, DisclosureRequest.case_id == Case.id)
        .where(Case.kind == kind, DisclosureRequest.id.is_(None), Case.merged_into_id.is_(None))
        .order_by(Case.received_at).limit(limit))]


def reviews(session: Session, year: int | None = None) -> list[DisclosureReview]:
    stmt = select(DisclosureReview).order_by(DisclosureReview.id)
    if year is not None:
        stmt = stmt.where(DisclosureReview.filed_year == year)
    return list(session.execute(stmt).scalars())
