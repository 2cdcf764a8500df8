"""Staff accounts, API tokens, browser sessions and login throttling."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from ..dialects import dialect_insert
from ..models import ApiToken, LoginThrottle, StaffSession, User


def user_by_name(session: Session, username: str) -> User | None:
    return session.execute(select(User).where(User.username == username)).scalar_one_or_none()


def active_user_by_name(session: Session, username: str) -> User | None:
    return session.execute(select(User).where(User.username == username, User.active.is_(True))).scalar_one_or_none()


def users(session: Session, *, active_only: bool = False) -> list[User]:
    stmt = select(User).order_by(User.username)
    if active_only:
        stmt = stmt.where(User.active.is_(True))
    return list(session.execute(stmt).scalars())


def any_user(session: Session) -> bool:
    return session.execute(select(User.id).limit(1)).first() is not None


def names_of(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    """user id → display name (or user name)."""
    wanted = {i for i in ids if i}
    if not wanted:
        return {}
    rows = session.execute(select(User.id, User.display_name, User.username).where(User.id.in_(wanted)))
    return {r[0]: r[1] or r[2] for r in rows}


def usernames_of(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i}
    if not wanted:
        return {}
    return dict(session.execute(select(User.id, User.username).where(User.id.in_(wanted))).all())


def user_by_token_hash(session: Session, token_hash: str) -> tuple[User, ApiToken] | None:
    row = session.execute(
        select(User, ApiToken).join(ApiToken, ApiToken.user_id == User.id)
        .where(ApiToken.token_hash == token_hash, ApiToken.revoked_at.is_(None), User.active.is_(True))
    ).first()
    return (row[0], row[1]) if row else None


def tokens(session: Session) -> list[tuple[ApiToken, str]]:
    """Every API token with its account's user name, oldest first."""
    rows = session.execute(select(ApiToken, User.username).join(User, User.id == ApiToken.user_id)
                           .order_by(ApiToken.id))
    return [(r[0], r[1]) for r in rows]


def tokens_by_ref(session: Session, *, token_id: int | None = None, name: str | None = None) -> list[ApiToken]:
    """The token with this id, or the tokens with this name, locked for the transaction."""
    stmt = select(ApiToken).order_by(ApiToken.id).with_for_update()
    stmt = stmt.where(ApiToken.id == token_id) if token_id is not None else stmt.where(ApiToken.name == name)
    return list(session.execute(stmt).scalars())


def touch_token(session: Session, token_id: int, at: datetime) -> None:
    session.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=at))


def session_with_user(session: Session, key: str) -> tuple[StaffSession, User] | None:
    row = session.execute(
        select(StaffSession, User).join(User, User.id == StaffSession.user_id).where(StaffSession.id == key)
    ).first()
    return (row[0], row[1]) if row else None


def delete_session(session: Session, key: str) -> None:
    session.execute(delete(StaffSession).where(StaffSession.id == key))


def delete_sessions_of(session: Session, user_id: int) -> None:
    session.execute(delete(StaffSession).where(StaffSession.user_id == user_id))


def delete_expired_sessions(session: Session, now: datetime) -> None:
    session.execute(delete(StaffSession).where(StaffSession.expires_at < now))


def touch_session(session: Session, key: str, at: datetime) -> None:
    session.execute(update(StaffSession).where(StaffSession.id == key).values(last_seen_at=at))


def throttle(session: Session, key: str) -> LoginThrottle | None:
    return session.get(LoginThrottle, key)


def throttle_locked(session: Session, key: str, now: datetime) -> LoginThrottle:
    """The throttle row of ``key``, made if missing and locked for this
    transaction, so concurrent sign-ins on PostgreSQL count one after another
    (SQLite's single writer already does)."""
    session.execute(dialect_insert(session, LoginThrottle)
                    .values(key=key, failures=0, first_failure_at=now)
                    .on_conflict_do_nothing(index_elements=["key"]))
    return session.execute(select(LoginThrottle).where(LoginThrottle.key == key)
                           .with_for_update().execution_options(populate_existing=True)).scalar_one()


def clear_throttle(session: Session, key: str) -> None:
    session.execute(delete(LoginThrottle).where(LoginThrottle.key == key))


def names_by_username(session: Session, usernames: Iterable[str]) -> dict[str, str]:
    """user name → display name (or the user name)."""
    wanted = {u for u in usernames if u}
    if not wanted:
        return {}
    rows = session.execute(select(User.username, User.display_name).where(User.username.in_(wanted)))
    return {r[0]: r[1] or r[0] for r in rows}


def token_owner_names(session: Session, token_names: Iterable[str]) -> dict[str, str]:
    """API token name → the display name of its owner (the first token of
    that name, should two share one)."""
    wanted = {t for t in token_names if t}
    if not wanted:
        return {}
    rows = session.execute(select(ApiToken.name, User.display_name, User.username)
                           .join(User, User.id == ApiToken.user_id)
                           .where(ApiToken.name.in_(wanted)).order_by(ApiToken.id))
    out: dict[str, str] = {}
    for name, display, username in rows:
        out.setdefault(name, display or username)
    return out
