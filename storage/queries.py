"""Plain query functions over a connection or session. No business rules."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, bindparam, func, literal_column, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from .models import (
    ApiToken,
    AuditEntry,
    CalendarDay,
    CalendarYear,
    Case,
    CaseCounter,
    Contact,
    Correction,
    Message,
    User,
)
from .sqlite_fast import Prepared


def insert_for(dialect_name: str, table):
    """INSERT with ON CONFLICT support for a dialect ("sqlite" or "postgresql")."""
    return (postgresql.insert if dialect_name == "postgresql" else sqlite.insert)(table)


def dialect_insert(conn: Connection | AsyncConnection | AsyncSession, table):
    """INSERT with ON CONFLICT support for the connection's dialect."""
    return insert_for(conn.bind.dialect.name if isinstance(conn, AsyncSession) else conn.dialect.name, table)


# The intake path runs these on every batch of messages. Built once with
# bind parameters (building a statement costs SQLAlchemy several times what
# executing it costs) and run as ``Prepared`` (storage/sqlite_fast.py).

_DELIVERIES = (
    select(Message.dedupe_key, Message.case_id, Message.reply_text, Case.number, Case.kind)
    .outerjoin(Case, Case.id == Message.case_id)
    .where(Message.dedupe_key.in_(bindparam("keys", expanding=True)))
)
_EXTERNAL = select(Case.external_id, Case.id, Case.number, Case.kind).where(
    Case.channel == bindparam("channel"), Case.external_id.in_(bindparam("ids", expanding=True))
)
_CONTACT_IDS = select(Contact.identity, Contact.id).where(
    Contact.channel == bindparam("channel"), Contact.identity.in_(bindparam("identities", expanding=True))
)


def _open_cases(status) -> Select:
    return (
        select(Case.contact_id, Case.id, Case.number, Case.kind, Case.status, Case.last_message_at)
        .where(Case.contact_id.in_(bindparam("ids", expanding=True)),
               status.in_(bindparam("statuses", expanding=True)), Case.merged_into_id.is_(None))
        .order_by(Case.last_message_at)
    )


_OPEN_CASES = {
    # Without statistics SQLite walks the status index, and nearly every case
    # is open: it would read them all on every batch. A unary + keeps it on
    # the contact index.
    "sqlite": _open_cases(literal_column("+cases.status")),
    "postgresql": _open_cases(Case.status),
}


def _dialect_statements(dialect):
    new_contacts = insert_for(dialect, Contact).on_conflict_do_nothing(index_elements=["channel", "identity"])
    counter = insert_for(dialect, CaseCounter).values(day=bindparam("day"), value=bindparam("count"))
    counter = counter.on_conflict_do_update(
        index_elements=["day"], set_={"value": CaseCounter.value + counter.excluded.value}
    ).returning(CaseCounter.value)
    return new_contacts, counter


_BY_DIALECT = {name: _dialect_statements(name) for name in ("sqlite", "postgresql")}

_DELIVERIES_RUN, _EXTERNAL_RUN, _CONTACT_IDS_RUN = Prepared(_DELIVERIES), Prepared(_EXTERNAL), Prepared(_CONTACT_IDS)
_OPEN_CASES_RUN = {name: Prepared(stmt) for name, stmt in _OPEN_CASES.items()}
_BY_DIALECT_RUN = {name: tuple(Prepared(stmt) for stmt in stmts) for name, stmts in _BY_DIALECT.items()}


def existing_deliveries(conn: Connection, keys: Sequence[str]) -> dict[str, tuple]:
    """dedupe_key → (case_id, reply_text, case number, kind) for deliveries already stored."""
    if not keys:
        return {}
    return {r[0]: r[1:] for r in _DELIVERIES_RUN(conn, {"keys": list(keys)})}


def existing_external(conn: Connection, channel: str, ids: Sequence[str]) -> dict[str, tuple]:
    """external_id → (case id, number, kind) on a channel."""
    if not ids:
        return {}
    return {r[0]: r[1:] for r in _EXTERNAL_RUN(conn, {"channel": channel, "ids": list(ids)})}


def ensure_contacts(
    conn: Connection, channel: str, people: dict[str, dict[str, Any]]
) -> dict[str, int]:
    """identity → contact id, inserting the ones not seen yet (race-safe)."""
    if not people:
        return {}
    found = dict(_CONTACT_IDS_RUN(conn, {"channel": channel, "identities": list(people)}))
    missing = sorted(i for i in people if i not in found)  # one order: no deadlock between workers
    if missing:
        _BY_DIALECT_RUN[conn.dialect.name][0](
            conn,
            [
                {"channel": channel, "identity": i, "name": people[i].get("name"),
                 "phone": people[i].get("phone"), "applicant_type": people[i].get("applicant_type"),
                 "created_at": people[i]["at"]}
                for i in missing
            ],
        )
        found.update(_CONTACT_IDS_RUN(conn, {"channel": channel, "identities": missing}))
    return found


def open_cases_of(conn: Connection, contact_ids: Iterable[int], statuses: Iterable[str]) -> dict[int, tuple]:
    """contact id → (case id, number, kind, status, last_message_at) of their latest open case."""
    ids = list(set(contact_ids))
    if not ids:
        return {}
    rows = _OPEN_CASES_RUN[conn.dialect.name](conn, {"ids": ids, "statuses": sorted(statuses)})
    latest: dict[int, tuple] = {}
    for r in rows:
        latest[r[0]] = r[1:]  # ordered ascending: the last one wins
    return latest


def allocate_sequences(conn: Connection, day: date, count: int) -> range:
    """Reserve ``count`` consecutive numbers of ``day``'s sequence."""
    ((end,),) = _BY_DIALECT_RUN[conn.dialect.name][1](conn, {"day": day, "count": count})
    return range(end - count + 1, end + 1)


async def calendar_overrides(session: AsyncSession | AsyncConnection) -> tuple[dict[date, bool], set[int]]:
    days = dict((await session.execute(select(CalendarDay.day, CalendarDay.is_workday))).all())
    years = set((await session.execute(select(CalendarYear.year))).scalars())
    return days, years


async def user_by_name(session: AsyncSession, username: str) -> User | None:
    return (await session.execute(select(User).where(User.username == username))).scalar_one_or_none()


async def user_by_token_hash(session: AsyncSession, token_hash: str) -> tuple[User, ApiToken] | None:
    row = (
        await session.execute(
            select(User, ApiToken)
            .join(ApiToken, ApiToken.user_id == User.id)
            .where(ApiToken.token_hash == token_hash, ApiToken.revoked_at.is_(None), User.active.is_(True))
        )
    ).first()
    return (row[0], row[1]) if row else None


def cases_query(
    *,
    year: int | None = None,
    channel: str | None = None,
    kind: str | None = None,
    topic: str | None = None,
    status: str | Sequence[str] | None = None,
    assignee_id: int | None = None,
    q: str | None = None,
) -> Select:
    stmt = select(Case).where(Case.merged_into_id.is_(None))
    if year is not None:
        stmt = stmt.where(Case.received_year == year)
    if channel:
        stmt = stmt.where(Case.channel == channel)
    if kind:
        stmt = stmt.where(Case.kind == kind)
    if topic:
        stmt = stmt.where(Case.topic == topic)
    if status:
        stmt = stmt.where(Case.status.in_([status] if isinstance(status, str) else list(status)))
    if assignee_id is not None:
        stmt = stmt.where(Case.assignee_id == assignee_id)
    if q:
        stmt = stmt.where(search_condition(q))
    return stmt


_CASE_NUMBER = re.compile(r"^[A-Za-z]{2}\d{8}(-\d{1,6})?$")


def search_condition(q: str):
    """A case number (or its day prefix) matches the number; anything else
    is a full-text search over jieba tokens (bot/search.py)."""
    from bot.search import TokenMatch, query_tokens

    q = q.strip()
    if _CASE_NUMBER.match(q):
        number = q.upper()
        if "-" in number:
            return Case.number == number
        # A day's prefix, e.g. WX20240315: a range on the unique index (LIKE can't use it).
        return (Case.number >= number) & (Case.number < number[:-1] + chr(ord(number[-1]) + 1))
    tokens = query_tokens(q)
    if not tokens:  # only punctuation or symbols: plain substring search
        like = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        return Case.text.like(like, escape="\\")
    return TokenMatch(Case.id, Case.search_tokens, tokens)


async def count(session: AsyncSession, stmt: Select) -> int:
    return (await session.execute(select(func.count()).select_from(stmt.order_by(None).subquery()))).scalar_one()


async def case_messages(session: AsyncSession, case_id: int) -> Sequence[Message]:
    return (await session.execute(select(Message).where(Message.case_id == case_id).order_by(Message.id))).scalars().all()


async def add_audit(session: AsyncSession, actor: str, action: str, case_id: int | None, **detail) -> None:
    session.add(AuditEntry(actor=actor, action=action, case_id=case_id, detail=detail))


async def touch_token(session: AsyncSession, token_id: int, at: datetime) -> None:
    await session.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=at))


async def iter_corrections(session: AsyncSession):
    """(text, kind, topic) rows staff corrected: training data for nlp train."""
    result = await session.stream(select(Correction.text, Correction.kind, Correction.topic).order_by(Correction.id))
    async for row in result:
        yield row[0], row[1], row[2]
