"""Staff accounts and how they sign in: passwords (with throttling),
browser sessions, API tokens; and the admins' account pages."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from bot.domain.actors import Actor, StaffMember
from bot.domain.errors import Conflict, InvalidInput, NotFound
from bot.domain.security import hash_password, new_token, session_key, token_hash, verify_password
from storage.database import Tx
from storage.models import ApiToken, StaffSession, User
from storage.queries import accounts as q
from storage.queries import audit

from .runtime import Runtime

SESSION_IDLE = timedelta(hours=2)  # signed out after 2 hours without activity
SESSION_MAX = timedelta(hours=12)  # and after a working day in any case
TOUCH_EVERY = timedelta(minutes=5)  # write last_seen_at at most this often
TOKEN_USE_RESOLUTION = timedelta(minutes=1)  # when a token was last used, to the minute
THROTTLE_WINDOW = timedelta(minutes=15)
THROTTLE_LOCK = timedelta(minutes=15)
MAX_FAILURES_USER, MAX_FAILURES_ADDR = 5, 20
BAD_LOGIN = "用户名或密码错误"
LOCKED_LOGIN = "登录失败次数过多，请 {minutes} 分钟后再试"
ROLES = ("admin", "staff")
USERNAME = re.compile(r"[^\s\x00-\x1f\x7f]{1,64}")  # 张三 as well as zhangsan
MIN_PASSWORD = 8


def _now() -> datetime:
    return datetime.now(timezone.utc)


def actor_of(user: User, label: str) -> Actor:
    return Actor(label, user.id, user.username, user.display_name, user.role)


@dataclass(frozen=True)
class StaffSessionInfo:
    """The signed-in staff member of a browser session."""

    actor: Actor
    key: str  # the stored (hashed) id of the session

    @property
    def id(self) -> int | None:
        return self.actor.user_id

    @property
    def name(self) -> str:
        return self.actor.name

    @property
    def role(self) -> str | None:
        return self.actor.role


# ---- browser sessions ------------------------------------------------------------

async def staff_of_session(rt: Runtime, session_id: str) -> StaffSessionInfo | None:
    """The staff member of a live session, or None (expired, idle or
    unknown sessions are ended)."""
    key = session_key(session_id)
    now = _now()
    found = await rt.db.read(lambda tx: q.session_with_user(tx.session, key))
    if found is None:
        return None
    staff_session, user = found
    if staff_session.expires_at <= now or staff_session.last_seen_at + SESSION_IDLE <= now or not user.active:
        await rt.db.write(lambda tx: q.delete_session(tx.session, key))
        return None
    if now - staff_session.last_seen_at > TOUCH_EVERY:
        await rt.db.write(lambda tx: q.touch_session(tx.session, key, now))
    return StaffSessionInfo(actor_of(user, f"user:{user.username}"), key)


async def sign_in(rt: Runtime, username: str, password: str, address: str) -> tuple[Actor | None, str | None, str | None]:
    """(actor, new session id, None) on success, else (None, None, message).
    The message is the same whether or not the user name exists."""
    username = username.strip()
    now = _now()
    keys = [f"user:{username.lower()}"[:200], f"addr:{address}"[:200]]

    def reserve(tx: Tx) -> tuple[timedelta | None, User | None]:
        # The attempt counts as a failure before the password is checked, in
        # the same write as the lock check: concurrent guesses cannot all
        # pass the check before any of them is counted. A success gives it back.
        rows = [q.throttle_locked(tx.session, key, now) for key in keys]
        until = max((r.locked_until for r in rows if r.locked_until is not None and r.locked_until > now), default=None)
        if until is not None:
            return until - now, None
        _note_failure(tx, keys[0], MAX_FAILURES_USER, now)
        _note_failure(tx, keys[1], MAX_FAILURES_ADDR, now)
        return None, (q.user_by_name(tx.session, username) if username else None)

    lock, user = await rt.db.write(reserve)
    if lock is not None:
        return None, None, LOCKED_LOGIN.format(minutes=max(1, int(lock.total_seconds() // 60) + 1))
    if verify_password(user.password_hash if user else None, password) and user is not None and user.active:
        session_id = secrets.token_urlsafe(32)

        def start(tx: Tx) -> None:
            q.clear_throttle(tx.session, keys[0])
            _forgive(tx, keys[1], MAX_FAILURES_ADDR, now)
            audit.add(tx.session, f"user:{user.username}", "staff.login", address=address)
            tx.session.add(StaffSession(id=session_key(session_id), user_id=user.id, created_at=now, last_seen_at=now,
                                        expires_at=now + SESSION_MAX))
            q.delete_expired_sessions(tx.session, now)  # anyone's, cleaned up as people sign in

        await rt.db.write(start)
        return actor_of(user, f"user:{user.username}"), session_id, None

    await rt.db.write(lambda tx: audit.add(tx.session, "anonymous", "staff.login_failed",
                                           username=username[:64], address=address))
    return None, None, BAD_LOGIN


def _note_failure(tx: Tx, key: str, limit: int, now: datetime) -> None:
    row = q.throttle_locked(tx.session, key, now)
    if now - row.first_failure_at > THROTTLE_WINDOW:
        row.failures, row.first_failure_at = 0, now
    row.failures += 1
    if row.failures >= limit:
        row.locked_until = now + THROTTLE_LOCK
        row.failures, row.first_failure_at = 0, now


def _forgive(tx: Tx, key: str, limit: int, now: datetime) -> None:
    """Take back the failure an attempt made at ``now`` counted in advance."""
    row = q.throttle(tx.session, key)
    if row is None:
        return
    if row.locked_until == now + THROTTLE_LOCK:  # this very attempt set the lock
        row.locked_until, row.failures = None, limit - 1
    elif row.failures > 0:
        row.failures -= 1


async def sign_out(rt: Runtime, staff: StaffSessionInfo) -> None:
    def end(tx: Tx) -> None:
        q.delete_session(tx.session, staff.key)
        audit.add(tx.session, staff.actor.label, "staff.logout")

    await rt.db.write(end)


async def any_user_exists(rt: Runtime) -> bool:
    return await rt.db.read(lambda tx: q.any_user(tx.session))


# ---- API tokens ----------------------------------------------------------------------

@dataclass(frozen=True)
class TokenUse:
    actor: Actor
    token_id: int
    last_used_at: datetime | None


async def actor_of_token(rt: Runtime, token: str) -> TokenUse | None:
    found = await rt.db.read(lambda tx: q.user_by_token_hash(tx.session, token_hash(token)))
    if found is None:
        return None
    user, api_token = found
    return TokenUse(actor_of(user, f"token:{api_token.name}"), api_token.id, api_token.last_used_at)


async def note_token_use(rt: Runtime, use: TokenUse) -> None:
    """When a token was last used, to the minute (only for requests that
    succeeded: a refused request changes nothing)."""
    now = _now()
    if use.last_used_at and now - use.last_used_at < TOKEN_USE_RESOLUTION:
        return
    await rt.db.write(lambda tx: q.touch_token(tx.session, use.token_id, now))


async def create_token(rt: Runtime, username: str, label: str | None, actor: Actor) -> str:
    token = new_token()

    def create(tx: Tx) -> None:
        user = q.user_by_name(tx.session, username)
        if user is None:
            raise NotFound(f"没有用户 {username}，请先运行 intake user add", "name")
        tx.session.add(ApiToken(user_id=user.id, name=label or username, token_hash=token_hash(token)))
        audit.add(tx.session, actor.label, "token.created", username=username)

    await rt.db.write(create)
    return token


@dataclass(frozen=True)
class TokenInfo:
    """An API token as an operator lists it (never the token itself)."""

    id: int
    name: str
    username: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def _token_info(token: ApiToken, username: str) -> TokenInfo:
    return TokenInfo(token.id, token.name, username, token.created_at, token.last_used_at, token.revoked_at)


async def list_tokens(rt: Runtime) -> list[TokenInfo]:
    return await rt.db.read(lambda tx: [_token_info(t, u) for t, u in q.tokens(tx.session)])


async def revoke_token(rt: Runtime, actor: Actor, ref: str) -> tuple[TokenInfo, bool]:
    """Revoke the token ``ref`` names: its id (digits), or its name when one
    live token has that name. (the token, whether it was live until now);
    from then on it is refused. A name several live tokens share is refused:
    their ids are named instead."""
    ref = ref.strip()
    now = _now()

    def revoke(tx: Tx) -> tuple[TokenInfo, bool]:
        found = (q.tokens_by_ref(tx.session, token_id=int(ref)) if ref.isdigit() and len(ref) < 19
                 else q.tokens_by_ref(tx.session, name=ref))
        if not found:
            raise NotFound(f"没有令牌 {ref}（用 intake token list 查看编号和名称）", "token")
        live = [t for t in found if t.revoked_at is None]
        if len(live) > 1:
            raise Conflict(f"名称 {ref} 对应 {len(live)} 个有效令牌（编号 {', '.join(str(t.id) for t in live)}），"
                           f"请用编号撤销", "token")
        token = live[0] if live else found[-1]
        usernames = q.usernames_of(tx.session, [token.user_id])
        if token.revoked_at is not None:
            return _token_info(token, usernames.get(token.user_id, "")), False
        token.revoked_at = now
        audit.add(tx.session, actor.label, "token.revoked", token_id=token.id, name=token.name,
                  username=usernames.get(token.user_id, ""))
        return _token_info(token, usernames.get(token.user_id, "")), True

    return await rt.db.write(revoke)


# ---- accounts (admins) ---------------------------------------------------------------

def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"密码至少 {MIN_PASSWORD} 位", "password")


async def add_user(rt: Runtime, actor: Actor, username: str, *, role: str, password: str,
                   display_name: str | None = None) -> None:
    username = username.strip()
    if not USERNAME.fullmatch(username):
        raise InvalidInput("用户名须为1–64个字符，不含空格和控制字符", "username")
    if role not in ROLES:
        raise InvalidInput("角色无效", "role")
    _check_password(password)
    password_hash = hash_password(password)

    def create(tx: Tx) -> None:
        if q.user_by_name(tx.session, username):
            raise Conflict(f"用户 {username} 已存在", "username")
        tx.session.add(User(username=username, display_name=(display_name or "").strip() or None, role=role,
                            password_hash=password_hash))
        audit.add(tx.session, actor.label, "user.created", username=username, role=role)

    await rt.db.write(create)


async def change_user(rt: Runtime, actor: Actor, user_id: int, op: str, password: str | None = None) -> None:
    """``op``: activate, deactivate or password. Either way the user's
    browsers sign in again."""
    if op not in ("activate", "deactivate", "password"):
        raise InvalidInput("未知操作", "op")
    password_hash = None
    if op == "password":
        _check_password(password or "")
        password_hash = hash_password(password or "")

    def change(tx: Tx) -> None:
        user = tx.session.get(User, user_id)
        if user is None:
            raise NotFound("没有这个用户", "user_id")
        if op == "password":
            user.password_hash = password_hash
        else:
            if user.id == actor.user_id and op == "deactivate":
                raise InvalidInput("不能停用自己的账号", "user_id")
            user.active = op == "activate"
        q.delete_sessions_of(tx.session, user.id)
        audit.add(tx.session, actor.label, f"user.{op}", username=user.username)

    await rt.db.write(change)


async def set_user_active(rt: Runtime, actor: Actor, username: str, active: bool) -> bool:
    """Enable or disable the account ``username`` (``intake user disable``);
    whether it changed. A disabled account cannot sign in, its browser
    sessions end now, and its API tokens are refused for as long as it stays
    disabled."""
    op = "activate" if active else "deactivate"

    def change(tx: Tx) -> bool:
        user = q.user_by_name(tx.session, username.strip())
        if user is None:
            raise NotFound(f"没有用户 {username}", "name")
        changed = user.active != active
        user.active = active
        q.delete_sessions_of(tx.session, user.id)
        if changed:
            audit.add(tx.session, actor.label, f"user.{op}", username=user.username)
        return changed

    return await rt.db.write(change)


def staff_members(session, *, active_only: bool = False) -> list[StaffMember]:
    return [StaffMember(u.id, u.username, u.display_name, u.role, u.active)
            for u in q.users(session, active_only=active_only)]


async def list_users(rt: Runtime, *, active_only: bool = False) -> list[StaffMember]:
    return await rt.db.read(lambda tx: staff_members(tx.session, active_only=active_only))
