"""The knowledge base of instant answers: entries, keyword rules, the log
of automatic answers and staff feedback."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ..models import Case, KbAnswer, KbEntry, KbFeedback, KbRule
from . import kv

REVISION_KEY = "answers.revision"
WELCOME_KEY = "answers.welcome"
MENU_KEY = "answers.menu"


def all_entries(session: Session) -> Sequence[KbEntry]:
    return session.execute(select(KbEntry).order_by(KbEntry.key)).scalars().all()


def entry_by_key(session: Session, key: str) -> KbEntry | None:
    return session.execute(select(KbEntry).where(KbEntry.key == key)).scalar_one_or_none()


def rules(session: Session) -> Sequence[KbRule]:
    return session.execute(select(KbRule).order_by(KbRule.position, KbRule.id)).scalars().all()


def replace_rules(session: Session, rows: list[dict]) -> None:
    session.execute(delete(KbRule))
    now = datetime.now(timezone.utc)
    for pos, r in enumerate(rows):
        session.add(KbRule(position=pos, match=r["match"], pattern=r["pattern"], reply=r["reply"],
                           active=r.get("active", True), updated_at=now))


def feedback_wordings(session: Session) -> list[tuple[str, int | None, int | None]]:
    """(text, matched entry id, correct entry id) of every staff judgement."""
    rows = session.execute(
        select(KbFeedback.text, KbFeedback.matched_entry_id, KbFeedback.correct_entry_id).order_by(KbFeedback.id))
    return [tuple(r) for r in rows]


def revision(session: Session) -> str | None:
    return kv.get_value(session, REVISION_KEY)


def bump_revision(session: Session) -> str:
    """Mark the knowledge base changed, so every worker reloads it."""
    value = datetime.now(timezone.utc).isoformat()
    kv.set_value(session, REVISION_KEY, value)
    return value


def recent_answers(session: Session, *, limit: int, before_id: int | None = None,
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
    return session.execute(stmt).all()
