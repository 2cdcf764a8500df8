"""Staff sign-in for the browser pages: sessions, CSRF, roles, throttling.

- The session cookie holds a random id signed with INTAKE_SECRET_KEY
  (HMAC-SHA256); the database keeps only the id's SHA-256, so logout and
  expiry are real and a database dump opens no session. HttpOnly, SameSite
  Lax, Secure when the request came over HTTPS (directly, or through a
  trusted proxy's X-Forwarded-Proto).
- CSRF: every unsafe request under the staff pages must carry
  ``csrf_token`` (form field or X-CSRF-Token header) = HMAC(secret, session
  id); before login, of a random pre-login cookie.
- Throttling: 5 failures for a user name (existing or not) or 20 from one
  address within 15 minutes lock that name/address for 15 minutes.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from urllib.parse import quote, urlsplit

from aiohttp import web
from sqlalchemy import delete, select, update

from bot.casework import Actor
from bot.security import verify_password
from bot.services import SERVICES, Services
from storage import queries
from storage.models import AuditEntry, LoginThrottle, StaffSession, User

log = logging.getLogger(__name__)

SESSION_COOKIE = "intake_session"
PRELOGIN_COOKIE = "intake_prelogin"
SESSION_IDLE = timedelta(hours=2)  # signed out after 2 hours without activity
SESSION_MAX = timedelta(hours=12)  # and after a working day in any case
TOUCH_EVERY = timedelta(minutes=5)  # write last_seen_at at most this often
THROTTLE_WINDOW = timedelta(minutes=15)
THROTTLE_LOCK = timedelta(minutes=15)
MAX_FAILURES_USER, MAX_FAILURES_ADDR = 5, 20
STAFF_PREFIXES = ("/inbox", "/login", "/logout")

# Staff pages load nothing from elsewhere and run no inline script: even an
# escaping mistake could not run injected code. data: images for the PNG export.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                               "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}

BAD_LOGIN = "用户名或密码错误"
LOCKED_LOGIN = "登录失败次数过多，请 {minutes} 分钟后再试"


@dataclass(frozen=True)
class Staff:
    """The signed-in staff member of a request."""

    user: User
    session_id: str  # the hashed id (primary key of staff_sessions)

    @property
    def id(self) -> int:
        return self.user.id

    @property
    def username(self) -> str:
        return self.user.username

    @property
    def name(self) -> str:
        return self.user.display_name or self.user.username

    @property
    def role(self) -> str:
        return self.user.role

    @property
    def actor(self) -> Actor:
        return Actor(self.user, f"user:{self.user.username}")


STAFF = web.RequestKey("staff", Staff)
CSRF_KEY = web.RequestKey("csrf_key", str)
NEW_PRELOGIN = web.RequestKey("new_prelogin", str)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _mac(secret: str, purpose: str, value: str) -> str:
    digest = hmac.new(secret.encode(), f"{purpose}:{value}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _sign(secret: str, value: str) -> str:
    return f"{value}.{_mac(secret, 'cookie', value)}"


def _unsign(secret: str, signed: str | None) -> str | None:
    if not signed or "." not in signed:
        return None
    value, _, mac = signed.rpartition(".")
    return value if hmac.compare_digest(mac, _mac(secret, "cookie", value)) else None


def _hash_sid(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


def is_https(request: web.Request) -> bool:
    if request.scheme == "https":
        return True
    settings = request.app[SERVICES].settings
    proto = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    return settings.trust_proxy and proto == "https"


def client_address(request: web.Request) -> str:
    if request.app[SERVICES].settings.trust_proxy:
        # The last entry is the one our proxy appended; earlier ones are
        # whatever the client chose to send (and would dodge the throttle).
        forwarded = request.headers.get("X-Forwarded-For", "").split(",")[-1].strip()
        if forwarded:
            return forwarded
    return request.remote or "unknown"


def _set_cookie(request: web.Request, response: web.StreamResponse, name: str, value: str,
                max_age: int | None = None) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/", httponly=True, samesite="Lax",
                        secure=is_https(request))


def redirect(location: str) -> web.Response:
    """303 See Other (after a form), as a response that can carry cookies."""
    return web.Response(status=303, headers={"Location": location})


def csrf_token(request: web.Request) -> str:
    key = request.get(CSRF_KEY)
    if not key:
        return ""
    return _mac(request.app[SERVICES].settings.secret_key, "csrf", key)


def safe_next(target: str | None) -> str:
    """Only local paths: never send a signed-in user to another site."""
    if not target:
        return "/inbox"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/inbox"
    return target


def login_redirect(request: web.Request) -> web.HTTPException:
    """Back to the login page, remembering where the user was going."""
    if request.method == "GET":
        target = request.path_qs
    else:  # a form posted after the session ended: come back to the page it was on
        referer = urlsplit(request.headers.get("Referer", ""))
        target = referer.path + (f"?{referer.query}" if referer.query else "") if referer.path else "/inbox"
        if referer.netloc and referer.netloc != request.host:
            target = "/inbox"
    expired = "&expired=1" if SESSION_COOKIE in request.cookies else ""
    return web.HTTPSeeOther(f"/login?next={quote(safe_next(target), safe='/')}{expired}")


async def _load_session(services: Services, signed: str | None) -> Staff | None:
    sid = _unsign(services.settings.secret_key, signed)
    if sid is None:
        return None
    key = _hash_sid(sid)
    now = _now()
    async with services.sessions() as session:
        row = (await session.execute(
            select(StaffSession, User).join(User, User.id == StaffSession.user_id).where(StaffSession.id == key)
        )).first()
        if row is None:
            return None
        staff_session, user = row
        if staff_session.expires_at <= now or staff_session.last_seen_at + SESSION_IDLE <= now or not user.active:
            await session.execute(delete(StaffSession).where(StaffSession.id == key))
            await session.commit()
            return None
        if now - staff_session.last_seen_at > TOUCH_EVERY:
            await session.execute(update(StaffSession).where(StaffSession.id == key).values(last_seen_at=now))
            await session.commit()
    return Staff(user, key)


@web.middleware
async def staff_middleware(request: web.Request, handler):
    if not request.path.startswith(STAFF_PREFIXES):
        return await handler(request)
    services = request.app[SERVICES]
    secret = services.settings.secret_key
    staff = await _load_session(services, request.cookies.get(SESSION_COOKIE))
    if staff is not None:
        request[STAFF] = staff
        request[CSRF_KEY] = staff.session_id
    else:
        pre = _unsign(secret, request.cookies.get(PRELOGIN_COOKIE))
        if pre is None:
            pre = secrets.token_urlsafe(24)
            request[NEW_PRELOGIN] = pre
        request[CSRF_KEY] = "pre:" + pre
    if request.method not in ("GET", "HEAD", "OPTIONS") and not request.path.startswith("/inbox/static/"):
        if staff is None and request.path != "/login":
            raise login_redirect(request)
        sent = request.headers.get("X-CSRF-Token")
        if sent is None and request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            sent = (await request.post()).get("csrf_token")
        if not isinstance(sent, str) or not sent or not hmac.compare_digest(sent, csrf_token(request)):
            log.warning("CSRF token missing or wrong on %s %s from %s", request.method, request.path,
                        client_address(request))
            return web.Response(status=403, content_type="text/html", charset="utf-8",
                                text="<!doctype html><meta charset=utf-8><title>请求被拒绝</title>"
                                     "<p>请求被拒绝：表单已过期或缺少安全校验（CSRF）。请返回上一页，刷新后重试。</p>")
    response = await handler(request)
    if isinstance(response, web.StreamResponse) and not response.prepared:
        if NEW_PRELOGIN in request:
            _set_cookie(request, response, PRELOGIN_COOKIE, _sign(secret, request[NEW_PRELOGIN]))
        response.headers.update(SECURITY_HEADERS)
    return response


def login_required(handler):
    """For staff page handlers: anonymous users go to the login page."""

    @functools.wraps(handler)
    async def wrapper(request: web.Request):
        if STAFF not in request:
            raise login_redirect(request)
        return await handler(request)

    return wrapper


def admin_required(handler):
    """For admin pages (accounts, calendar, canned replies): staff get 403."""

    @functools.wraps(handler)
    async def wrapper(request: web.Request):
        if STAFF not in request:
            raise login_redirect(request)
        if request[STAFF].role != "admin":
            from .inbox_web import render

            return render(request, "error.html", status=403, message="只有管理员可以进行此操作。")
        return await handler(request)

    return wrapper


# ---- login throttling ---------------------------------------------------------

async def _locked_for(session, keys: list[str], now: datetime) -> timedelta | None:
    rows = (await session.execute(select(LoginThrottle.locked_until).where(LoginThrottle.key.in_(keys)))).scalars()
    until = max((u for u in rows if u is not None and u > now), default=None)
    return until - now if until else None


async def _note_failure(session, key: str, limit: int, now: datetime) -> None:
    row = await session.get(LoginThrottle, key)
    if row is None:
        row = LoginThrottle(key=key, failures=0, first_failure_at=now)
        session.add(row)
    if now - row.first_failure_at > THROTTLE_WINDOW:
        row.failures, row.first_failure_at = 0, now
    row.failures += 1
    if row.failures >= limit:
        row.locked_until = now + THROTTLE_LOCK
        row.failures, row.first_failure_at = 0, now


async def authenticate(services: Services, username: str, password: str, address: str) -> tuple[User | None, str | None]:
    """(user, None) on success, else (None, message). The message is the same
    whether or not the user name exists."""
    username = username.strip()
    now = _now()
    keys = [f"user:{username.lower()}"[:200], f"addr:{address}"[:200]]
    async with services.sessions() as session:
        locked = await _locked_for(session, keys, now)
        if locked is not None:
            minutes = max(1, int(locked.total_seconds() // 60) + 1)
            return None, LOCKED_LOGIN.format(minutes=minutes)
        user = await queries.user_by_name(session, username) if username else None
        ok = verify_password(user.password_hash if user else None, password) and user is not None and user.active
        if ok:
            await session.execute(delete(LoginThrottle).where(LoginThrottle.key == keys[0]))
            session.add(AuditEntry(actor=f"user:{user.username}", action="staff.login", detail={"address": address}))
            await session.commit()
            return user, None
        await _note_failure(session, keys[0], MAX_FAILURES_USER, now)
        await _note_failure(session, keys[1], MAX_FAILURES_ADDR, now)
        session.add(AuditEntry(actor="anonymous", action="staff.login_failed",
                               detail={"username": username[:64], "address": address}))
        await session.commit()
    return None, BAD_LOGIN


async def start_session(request: web.Request, user: User, response: web.StreamResponse) -> None:
    services = request.app[SERVICES]
    sid = secrets.token_urlsafe(32)
    now = _now()
    async with services.sessions() as session:
        session.add(StaffSession(id=_hash_sid(sid), user_id=user.id, created_at=now, last_seen_at=now,
                                 expires_at=now + SESSION_MAX))
        # Expired sessions of anyone are cleaned up as people sign in.
        await session.execute(delete(StaffSession).where(StaffSession.expires_at < now))
        await session.commit()
    _set_cookie(request, response, SESSION_COOKIE, _sign(services.settings.secret_key, sid))
    response.del_cookie(PRELOGIN_COOKIE, path="/")


async def end_session(request: web.Request, response: web.StreamResponse) -> None:
    staff = request.get(STAFF)
    if staff is not None:
        async with request.app[SERVICES].sessions() as session:
            await session.execute(delete(StaffSession).where(StaffSession.id == staff.session_id))
            session.add(AuditEntry(actor=staff.actor.label, action="staff.logout", detail={}))
            await session.commit()
    response.del_cookie(SESSION_COOKIE, path="/")


async def any_user_exists(services: Services) -> bool:
    async with services.sessions() as session:
        return (await session.execute(select(User.id).limit(1))).first() is not None


# ---- routes -------------------------------------------------------------------

async def login_page(request: web.Request) -> web.Response:
    from .inbox_web import render

    if STAFF in request:
        raise web.HTTPSeeOther(safe_next(request.query.get("next")))
    no_users = not await any_user_exists(request.app[SERVICES])
    message = "登录已过期，请重新登录。" if request.query.get("expired") else None
    return render(request, "login.html", next=safe_next(request.query.get("next")), error=None,
                  notice=message, no_users=no_users, username="")


async def login_submit(request: web.Request) -> web.Response:
    from .inbox_web import render

    form = await request.post()
    username = str(form.get("username") or "")[:64]
    password = str(form.get("password") or "")[:1024]
    target = safe_next(str(form.get("next") or ""))
    user, error = await authenticate(request.app[SERVICES], username, password, client_address(request))
    if user is None:
        no_users = not await any_user_exists(request.app[SERVICES])
        return render(request, "login.html", status=401, next=target, error=error, notice=None,
                      no_users=no_users, username=username)
    response = redirect(target)
    await start_session(request, user, response)
    return response


async def logout(request: web.Request) -> web.Response:
    response = redirect("/login")
    await end_session(request, response)
    return response


def setup(app: web.Application) -> None:
    app.middlewares.append(staff_middleware)
    app.router.add_get("/login", login_page)
    app.router.add_post("/login", login_submit)
    app.router.add_post("/logout", logout)
