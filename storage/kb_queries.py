"""Plain query functions for the knowledge base (issue 7). No business rules."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from . import queries
from .models import Case, KbAnswer, KbEntry, KbFeedback, KbRule, KeyValue

REVISION_KEY = "answers.revision"
WELCOME_KEY = "answers.welcome"
MENU_KEY = "answers.menu"


async def all_entries(session: AsyncSession) -> Sequence[KbEntry]:
    return (await session.execute(select(KbEntry).order_by(KbEntry.key))).scalars().all()


async def entry_by_key(session: AsyncSession, key: str) -> KbEntry | None:
    return (await session.execute(select(KbEntry).where(KbEntry.key == key))).scalar_one_or_none()


async def rules(session: AsyncSession) -> Sequence[KbRule]:
    return (await session.execute(select(KbRule).order_by(KbRule.position, KbRule.id))).scalars().all()


async def replace_rules(session: AsyncSession, rows: list[dict]) -> None:
    await session.execute(delete(KbRule))
    now = datetime.now(timezone.utc)
    for pos, r in enumerate(rows):
        session.add(KbRule(position=pos, match=r["match"], pattern=r["pattern"], reply=r["reply"],
                           active=r.get("active", True), updated_at=now))


async def feedback_wordings(conn: AsyncConnection | AsyncSession) -> list[tuple[str, int | None, int | None]]:
    """(text, matched entry id, correct entry id) of every staff judgement."""
    rows = await conn.execute(
        select(KbFeedback.text, KbFeedback.matched_entry_id, KbFeedback.correct_entry_id).order_by(KbFeedback.id))
    return [tuple(r) for r in rows]


async def get_value(conn: AsyncConnection | AsyncSession, key: str) -> str | None:
    return (await conn.execute(select(KeyValue.value).where(KeyValue.key == key))).scalar_one_or_none()


async def set_value(conn: AsyncConnection | AsyncSession, key: str, value: str) -> None:
    now = datetime.now(timezone.utc)
    stmt = queries.dialect_insert(conn, KeyValue).values(key=key, value=value, updated_at=now)
    await conn.execute(stmt.on_conflict_do_update(
        index_elements=["key"], set_={"value": stmt.excluded.value, "updated_at": stmt.excluded.updated_at}))


async def bump_revision(conn: AsyncConnection | AsyncSession) -> str:
    """Mark the knowledge base changed, so every worker reloads it."""
    value = datetime.now(timezone.utc).isoformat()
    await set_value(conn, REVISION_KEY, value)
    return value


async def recent_answers(session: AsyncSession, *, limit: int, before_id: int | None = None,
                         unreviewed: bool = False, entry_id: int | None = None) -> Sequence:
    """(KbAnswer, case number, case status) rows, newest first."""
    stmt = (select(KbAnswer, Case.number, Case.status).outerjoin(Case, Case.id == KbAnswer.case_id)
            .order_by(KbAnswer.id.desc()).limit(limit))
    if before_id is not None:
        stmt = stmt.where(KbAnswer.id < before_id)
    if unreviewed:
        stmt = stmt.where(KbAnswer.reviewed.is_(None))
    if entry_id is not None:
        stmt = stmt.where(KbAnswer.entry_id == entry_id)
    return (await session.execute(stmt)).all()


async def mark_answer_reviewed(session: AsyncSession, answer_id: int, verdict: str) -> None:
    await session.execute(update(KbAnswer).where(KbAnswer.id == answer_id).values(reviewed=verdict))


async def answers_of_case(session: AsyncSession, case_id: int) -> Sequence[KbAnswer]:
    return (await session.execute(select(KbAnswer).where(KbAnswer.case_id == case_id).order_by(KbAnswer.id))).scalars().all()
