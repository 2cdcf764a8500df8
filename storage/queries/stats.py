"""The 通报 statistics' counts: one GROUP BY over the cases received in a
range (each case keeps its answer's working days and its ratings' counts,
so nothing else is joined), and the open cases due soon or overdue per
assignee for the dashboard's digest. Never a row per case."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import and_, func, literal, or_, select, text
from sqlalchemy.orm import Session

from ..models import Case, User
from .cases import open_cases

ANSWERED = ("answered", "closed")
ACTIVE = ("new", "assigned", "in_progress")  # open, and the clock runs
KEY_COLUMNS = {"assignee": Case.assignee_id, "kind": Case.kind, "channel": Case.channel, "topic": Case.topic}


def plan_for_the_values(session: Session) -> None:
    """PostgreSQL re-uses a prepared statement's generic plan after five
    executions, and a plan made without the range's dates guesses the range
    small and the groups few (a year's table then took 2.8x as long); for
    the rest of this transaction every statement is planned for its values."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))


def counted(start: date, end: date) -> list:
    """The cases a range counts: received on its days (office-local), not
    merged into another. The year bounds let the planner reach the days
    through the (year, day) index."""
    return [Case.received_year.in_(list(range(start.year, end.year + 1))), Case.received_date.between(start, end),
            Case.merged_into_id.is_(None), Case.status != "merged"]


def _count(condition, column=None):
    return (func.count(column) if column is not None else func.count()).filter(condition)


def case_groups(session: Session, by: str, start: date, end: date, now: datetime) -> list[tuple]:
    """(key, received, answered, answered with a known time, late, open
    overdue, extended, returned, cancelled, reopened, timed, their working days,
    ratings, satisfied ratings) per key: one pass over the range's cases,
    the working days and the ratings read off the figures each case keeps."""
    key = KEY_COLUMNS[by]
    answered = and_(Case.status.in_(ANSWERED), Case.cancelled_at.is_(None))  # 撤单 closes without an answer
    timed = and_(answered, Case.answer_working_days.is_not(None))
    overdue = or_(and_(Case.status.in_(ACTIVE), Case.deadline_at < now),
                  # waiting pauses the clock: overdue only if it was so when the wait began
                  and_(Case.status == "waiting",
                       Case.deadline_at < func.coalesce(Case.waiting_since, literal(now, Case.waiting_since.type))))
    stmt = (
        select(
            key, func.count(),
            _count(answered),
            _count(answered, Case.answered_at),
            _count(and_(answered, Case.answered_at > Case.deadline_at)),
            _count(overdue),
            _count(Case.extended_days > 0),
            _count(Case.status == "returned"),
            func.count(Case.cancelled_at),
            _count(Case.reopened > 0),
            _count(timed),
            func.coalesce(func.sum(Case.answer_working_days).filter(timed), 0),
            func.coalesce(func.sum(Case.ratings_given), 0),
            func.coalesce(func.sum(Case.ratings_satisfied), 0),
        )
        .where(*counted(start, end))
        .group_by(key)
    )
    return [tuple(r) for r in session.execute(stmt)]


def people(session: Session, ids) -> dict[int, tuple[str, str | None]]:
    """id → (username, display name) of the given users."""
    ids = [i for i in ids if i is not None]
    if not ids:
        return {}
    return {i: (u, d) for i, u, d in session.execute(
        select(User.id, User.username, User.display_name).where(User.id.in_(ids)))}


def due_counts(session: Session, now: datetime, cutoff: datetime) -> list[tuple]:
    """(assignee id, overdue, due by ``cutoff``) of the active open cases
    (a case waiting for the citizen has its clock paused, as in the inbox's
    views). Read from the small partial index of open cases."""
    stmt = (
        select(Case.assignee_id, _count(Case.deadline_at < now), _count(Case.deadline_at >= now))
        .where(open_cases(), Case.status != "waiting", Case.deadline_at <= cutoff)
        .group_by(Case.assignee_id)
    )
    return [tuple(r) for r in session.execute(stmt)]


def due_cases(session: Session, now: datetime, cutoff: datetime, per_assignee: int) -> list[tuple]:
    """(assignee id, case id, number, deadline, overdue) of the first
    ``per_assignee`` overdue and the first ``per_assignee`` due-soon active
    cases of each assignee, most urgent first."""
    late = Case.deadline_at < now
    rank = func.row_number().over(partition_by=(Case.assignee_id, late), order_by=(Case.deadline_at, Case.id))
    inner = (
        select(Case.assignee_id, Case.id, Case.number, Case.deadline_at, late.label("overdue"), rank.label("rank"))
        .where(open_cases(), Case.status != "waiting", Case.deadline_at <= cutoff)
        .subquery()
    )
    stmt = (select(inner.c.assignee_id, inner.c.id, inner.c.number, inner.c.deadline_at, inner.c.overdue)
            .where(inner.c.rank <= per_assignee)
            .order_by(inner.c.assignee_id, inner.c.deadline_at, inner.c.id))
    return [tuple(r) for r in session.execute(stmt)]
