"""Case lists and counts for the inbox, the API and the dashboard.

A list is asked for as a *selection*: any object with the attributes of
``CaseSelection`` (bot.domain.inbox.CaseFilter is one), turned here into SQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from sqlalchemy import Select, and_, bindparam, func, select, union
from sqlalchemy import case as sql_case
from sqlalchemy.orm import Session, aliased

from ..models import OPEN_CASE_STATUSES, CannedReply, Case, CaseNote, Correction, Message
from ..search import TokenMatch

COUNT_CAP = 10_000


class CaseSelection(Protocol):
    open_only: bool
    statuses: tuple[str, ...]
    assignee_id: int | None
    deadline_before: datetime | None
    deadline_from: datetime | None
    deadline_until: datetime | None
    year: int | None
    channel: str | None
    kind: str | None
    topic: str | None
    number: str | None
    tokens: tuple[str, ...]
    text_like: str | None
    urged_or_due_until: datetime | None
    follow_up_only: bool
    unaccepted_only: bool


def open_cases(entity=Case):
    """Open and not merged, spelled exactly as the partial index
    ix_cases_open (models.OPEN_CASES_SQL), with literal values, so SQLite's
    planner can prove the index applies."""
    statuses = bindparam("open_statuses", list(OPEN_CASE_STATUSES), expanding=True, literal_execute=True, unique=True)
    return and_(entity.status.in_(statuses), entity.merged_into_id.is_(None))


def conditions(selection: CaseSelection) -> list:
    """The WHERE conditions of one selection (merged cases are never listed)."""
    out = [open_cases()] if selection.open_only else [Case.merged_into_id.is_(None)]
    if selection.statuses:
        out.append(Case.status == selection.statuses[0] if len(selection.statuses) == 1
                   else Case.status.in_(list(selection.statuses)))
    if selection.assignee_id is not None:
        out.append(Case.assignee_id == selection.assignee_id)
    if selection.deadline_before is not None:
        out.append(Case.deadline_at < selection.deadline_before)
    if selection.deadline_from is not None:
        out.append(Case.deadline_at >= selection.deadline_from)
    if selection.deadline_until is not None:
        out.append(Case.deadline_at <= selection.deadline_until)
    if selection.year is not None:
        out.append(Case.received_year == selection.year)
    if selection.channel:
        out.append(Case.channel == selection.channel)
    if selection.kind:
        out.append(Case.kind == selection.kind)
    if selection.topic:
        out.append(Case.topic == selection.topic)
    if selection.number:
        number = selection.number
        if "-" in number:
            out.append(Case.number == number)
        else:  # a day's prefix, e.g. WX20240315: a range on the unique index (LIKE can't use it)
            out.append(Case.number >= number)
            out.append(Case.number < number[:-1] + chr(ord(number[-1]) + 1))
    if selection.tokens:
        out.append(TokenMatch(Case.id, Case.search_tokens, list(selection.tokens)))
    if selection.unaccepted_only:  # spelled as the partial index ix_cases_unaccepted
        out += [Case.channel == "hotline", Case.accepted_at.is_(None), Case.external_id.is_not(None)]
    if selection.follow_up_only:
        out.append(Case.follow_up_at.is_not(None))  # the partial index ix_cases_follow_up
    if selection.urged_or_due_until is not None:
        out.append(Case.id.in_(urged_or_due(selection.urged_or_due_until)))
    if selection.text_like:
        q = selection.text_like
        like = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        out.append(Case.text.like(like, escape="\\"))
    return out


def urged_or_due(cutoff: datetime):
    """Ids of urged cases (催办/督办) and of active cases due by ``cutoff``:
    two selects, each on its own partial index (ix_cases_urged,
    ix_cases_open), instead of an OR that would scan every case."""
    urged, due = aliased(Case), aliased(Case)  # aliases: never correlated with the outer query
    return union(
        select(urged.id).where(urged.urged.is_not(None), urged.merged_into_id.is_(None)),
        select(due.id).where(open_cases(due), due.status != "waiting", due.deadline_at <= cutoff),
    )


def selecting(*selections: CaseSelection) -> Select:
    """SELECT cases matching every selection."""
    stmt = select(Case)
    for selection in selections:
        stmt = stmt.where(*conditions(selection))
    return stmt


def count(session: Session, stmt: Select) -> int:
    return session.execute(select(func.count()).select_from(stmt.order_by(None).subquery())).scalar_one()


def capped_count(session: Session, stmt: Select) -> int:
    """Rows matching, counting no further than COUNT_CAP + 1: an exact total
    of a million closed cases costs a full scan and tells staff nothing."""
    limited = stmt.order_by(None).with_only_columns(Case.id).limit(COUNT_CAP + 1).subquery()
    return session.execute(select(func.count()).select_from(limited)).scalar_one()


def count_open_views(session: Session, base: Select, views: dict[str, CaseSelection]) -> dict[str, int]:
    """Every open view's count in one pass over the open cases (the partial
    index ix_cases_open covers all the columns it reads). ``views`` maps a
    name to its selection; each must be open_only."""
    columns = []
    for selection in views.values():
        conds = [c for c in conditions(selection)[1:]]  # past open_cases(), which the base has
        if conds:
            columns.append(func.coalesce(func.sum(sql_case((and_(*conds), 1), else_=0)), 0))
        else:
            columns.append(func.count())
    row = session.execute(base.where(open_cases()).with_only_columns(*columns)).one()
    return {name: int(row[i]) for i, name in enumerate(views)}


def page_newest(stmt: Select, limit: int, before_id: int | None = None) -> Select:
    page = stmt.order_by(Case.id.desc()).limit(limit)
    return page.where(Case.id < before_id) if before_id else page


def page_urgent(stmt: Select, limit: int, offset: int) -> Select:
    """Nearest deadline first; cases without one last."""
    return stmt.order_by(Case.deadline_at.is_(None), Case.deadline_at, Case.id).offset(offset).limit(limit)


def case_messages(session: Session, case_id: int) -> Sequence[Message]:
    return session.execute(select(Message).where(Message.case_id == case_id).order_by(Message.id)).scalars().all()


def last_message_in(session: Session, contact_id: int, channel: str) -> datetime | None:
    """When the contact last wrote on ``channel``."""
    return session.execute(select(func.max(Message.created_at)).where(
        Message.contact_id == contact_id, Message.direction == "in", Message.channel == channel)).scalar_one_or_none()


def last_reply_text(session: Session, case_id: int) -> str | None:
    return session.execute(select(Message.text).where(Message.case_id == case_id, Message.direction == "out")
                           .order_by(Message.id.desc()).limit(1)).scalar_one_or_none()


def by_number(session: Session, number: str) -> Case | None:
    return session.execute(select(Case).where(Case.number == number)).scalar_one_or_none()


def id_of_number(session: Session, number: str) -> int | None:
    return session.execute(select(Case.id).where(Case.number == number)).scalar_one_or_none()


def lock_in_order(session: Session, ids: Sequence[int]) -> dict[int, Case]:
    """The cases, locked (SELECT … FOR UPDATE on PostgreSQL) in the order of
    their ids, whoever asks: two transactions locking the same two cases
    never wait on each other crosswise (A→B merged while B→A is, a
    deadlock otherwise). Read afresh after the lock, so a change committed
    meanwhile (a reply's version increment) is built on, not overwritten."""
    rows = session.execute(
        select(Case).where(Case.id.in_(sorted(set(ids)))).order_by(Case.id).with_for_update()
        .execution_options(populate_existing=True)
    ).scalars()
    return {case.id: case for case in rows}


def notes_of(session: Session, case_id: int) -> list[CaseNote]:
    return list(session.execute(select(CaseNote).where(CaseNote.case_id == case_id).order_by(CaseNote.id)).scalars())


def merged_into(session: Session, case_id: int) -> list[tuple[int, str]]:
    """(id, number) of the cases merged into this one."""
    return [tuple(r) for r in session.execute(
        select(Case.id, Case.number).where(Case.merged_into_id == case_id).order_by(Case.id))]


def active_canned_replies(session: Session) -> list[CannedReply]:
    return list(session.execute(select(CannedReply).where(CannedReply.active.is_(True))
                                .order_by(CannedReply.title)).scalars())


def canned_replies(session: Session) -> list[CannedReply]:
    return list(session.execute(select(CannedReply).order_by(CannedReply.active.desc(), CannedReply.title)).scalars())


def deadline_errors(session: Session, *, limit: int | None = None) -> list[tuple]:
    """(id, number, deadline_error) of open cases whose deadline could not be computed."""
    stmt = select(Case.id, Case.number, Case.deadline_error).where(Case.deadline_error.is_not(None), open_cases()) \
        .order_by(Case.id)
    return [tuple(r) for r in session.execute(stmt.limit(limit) if limit else stmt)]


def count_deadline_errors(session: Session) -> int:
    return session.execute(select(func.count()).select_from(Case).where(
        Case.deadline_error.is_not(None), open_cases())).scalar_one()


def undated(session: Session) -> list[Case]:
    """Cases whose deadline waits for a calendar year (a limit in working days, no date)."""
    return list(session.execute(select(Case).where(Case.deadline_error.is_not(None),
                                                   Case.deadline_days.is_not(None))).scalars())


def corrections(session: Session) -> list[tuple[str, str, str]]:
    """(text, kind, topic) staff corrected: training data for ``intake nlp train``."""
    return [tuple(r) for r in session.execute(select(Correction.text, Correction.kind, Correction.topic)
                                              .order_by(Correction.id))]


def last_corrected_by(session: Session, case_id: int) -> int | None:
    """The user id of whoever last changed the case's kind or topic (None:
    nobody, or a tool without a user)."""
    return session.execute(select(Correction.user_id).where(Correction.case_id == case_id)
                           .order_by(Correction.id.desc()).limit(1)).scalar_one_or_none()
