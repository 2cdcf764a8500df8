"""The annual tally's counts: GROUP BY over a handful of indexed columns
(a covering index makes the cases' part an index-only scan). The domain
(bot/domain/report.py) arranges these rows into the report's tables."""

from __future__ import annotations

from datetime import date

from sqlalchemy import and_, case, func, literal, literal_column, or_, select
from sqlalchemy.orm import Session

from ..models import OPEN_CASE_STATUSES, Case, DisclosureRequest, DisclosureReview


def interaction_groups(session: Session, year: int) -> list[tuple]:
    """(channel, kind, count, answered on time, answered late, open,
    returned, cancelled) per channel and kind of the cases received in
    ``year``. Open and returned (退回: not this office's remit) are matters
    of status, cancelled (撤单 by the 12345 platform) of its time; an
    answered case is on time or late by its answer time, and neither when
    history was imported without one."""
    settled = Case.status.not_in(list(OPEN_CASE_STATUSES))
    answered = and_(Case.status.in_(["answered", "closed"]), Case.answered_at.is_not(None))
    on_time = and_(answered, or_(Case.deadline_at.is_(None), Case.answered_at <= Case.deadline_at))
    late = and_(answered, Case.deadline_at.is_not(None), Case.answered_at > Case.deadline_at)
    stmt = (
        select(
            Case.channel, Case.kind, func.count(),
            func.sum(case((on_time, 1), else_=0)),
            func.sum(case((late, 1), else_=0)),
            func.sum(case((settled, 0), else_=1)),
            func.sum(case((Case.status == "returned", 1), else_=0)),
            func.count(Case.cancelled_at),
        )
        .where(Case.received_year == year, Case.merged_into_id.is_(None))
        .group_by(Case.channel, Case.kind)
    )
    return [(ch, kind, n, int(a or 0), int(b or 0), int(c or 0), int(r or 0), int(x or 0))
            for ch, kind, n, a, b, c, r, x in session.execute(stmt)]


def request_buckets(session: Session, year: int) -> list[tuple[str, str, int]]:
    """("new" | "carried_in", applicant type, count): requests received in
    ``year``, and those received earlier still open at its start."""
    D = DisclosureRequest
    # Grouped by the output label: PostgreSQL won't match the two copies of a
    # CASE with bound parameters in SELECT and GROUP BY.
    bucket = case((D.receipt_year == year, literal("new")), else_=literal("carried_in")).label("bucket")
    stmt = (
        select(bucket, D.applicant_type, func.count())
        .where(or_(D.receipt_year == year,
                   and_(D.receipt_year < year, or_(D.decided_year.is_(None), D.decided_year >= year))))
        .group_by(literal_column("bucket"), D.applicant_type)
    )
    return [tuple(r) for r in session.execute(stmt)]


def decided_groups(session: Session, year: int) -> list[tuple[str, str, int]]:
    """(outcome, applicant type, count) of the requests answered in ``year``."""
    D = DisclosureRequest
    stmt = select(D.outcome, D.applicant_type, func.count()).where(D.decided_year == year) \
        .group_by(D.outcome, D.applicant_type)
    return [tuple(r) for r in session.execute(stmt)]


def carried_out_groups(session: Session, year: int) -> list[tuple[str, int]]:
    """(applicant type, count) of requests still open on 31 December."""
    D = DisclosureRequest
    stmt = (select(D.applicant_type, func.count())
            .where(D.receipt_year <= year, or_(D.decided_year.is_(None), D.decided_year > year))
            .group_by(D.applicant_type))
    return [tuple(r) for r in session.execute(stmt)]


def review_groups(session: Session, year: int) -> list[tuple[str, str, int]]:
    """(kind, result as it stood on 31 December, count) of the reviews filed in ``year``."""
    R = DisclosureReview
    year_end = date(year, 12, 31)
    effective = case((or_(R.concluded_on.is_(None), R.concluded_on > year_end), literal("pending")),
                     else_=R.result).label("effective_result")
    stmt = select(R.kind, effective, func.count()).where(R.filed_year == year) \
        .group_by(R.kind, literal_column("effective_result"))
    return [tuple(r) for r in session.execute(stmt)]


def unregistered_requests(session: Session, year: int, kind: str) -> int:
    """Cases of ``kind`` (disclosure requests) received in ``year`` with no legal file."""
    stmt = (
        select(func.count()).select_from(Case)
        .outerjoin(DisclosureRequest, DisclosureRequest.case_id == Case.id)
        .where(Case.received_year == year, Case.kind == kind, Case.merged_into_id.is_(None),
               DisclosureRequest.id.is_(None))
    )
    return int(session.execute(stmt).scalar_one())


def year_by_day(session: Session, year: int) -> list[tuple]:
    """(received date, channel, kind, count) of the cases received in ``year``."""
    return [tuple(r) for r in session.execute(
        select(Case.received_date, Case.channel, Case.kind, func.count())
        .where(Case.received_year == year, Case.merged_into_id.is_(None))
        .group_by(Case.received_date, Case.channel, Case.kind))]


def answered_on_time(session: Session, year: int) -> tuple[int, int]:
    """(answered, answered by the deadline) of the cases received in ``year`` that have one."""
    answered, on_time = session.execute(
        select(func.count(), func.coalesce(func.sum(case((Case.answered_at <= Case.deadline_at, 1), else_=0)), 0))
        .where(Case.received_year == year, Case.merged_into_id.is_(None), Case.answered_at.is_not(None),
               Case.deadline_at.is_not(None))).one()
    return int(answered), int(on_time)
