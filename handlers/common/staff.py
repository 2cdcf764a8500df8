"""Staff sign-in for the browser pages: session cookies, CSRF, roles.

- The session cookie holds a random id signed with INTAKE_SECRET_KEY
  (HMAC-SHA256); the database keeps only the id's SHA-256 (bot/services/
  accounts.py), so logout and expiry are real and a database dump opens no
  session. HttpOnly, SameSite Lax, Secure when the request came over HTTPS
  (directly, or through a trusted proxy's X-Forwarded-Proto).
- CSRF: every unsafe request under the staff pages must carry
  ``csrf_token`` (form field or X-CSRF-Token header) = HMAC(secret, session
  key); before login, of a random pre-login cookie.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
from urllib.parse import quote, urlsplit

from aiohttp import web

from bot.services import accounts
from bot.services.accounts import StaffSessionInfo

from .keys import ACTOR, RUNTIME

log = logging.getLogger(__name__)

SESSION_COOKIE = "intake_session"
PRELOGIN_COOKIE = "intake_prelogin"
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
CSRF_REFUSED = ("<!doctype html><meta charset=utf-8><title>请求被拒绝</title>"
                "<p>请求被拒绝：表单已过期或缺少安全校验（CSRF）。请返回上一页，刷新后重试。</p>")

STAFF = web.RequestKey("staff", StaffSessionInfo)
CSRF_KEY = web.RequestKey("csrf_key", str)
NEW_PRELOGIN = web.RequestKey("new_prelogin", str)


def _mac(secret: str, purpose: str, value: str) -> str:
    digest = hmac.new(secret.encode(), f"{purpose}:{value}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def sign(secret: str, value: str) -> str:
    return f"{value}.{_mac(secret, 'cookie', value)}"


def unsign(secret: str, signed: str | None) -> str | None:
    if not signed or "." not in signed:
        return None
    value, _, mac = signed.rpartition(".")
    return value if hmac.compare_digest(mac, _mac(secret, "cookie", value)) else None


def is_https(request: web.Request) -> bool:
    if request.scheme == "https":
        return True
    proto = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    return request.app[RUNTIME].settings.trust_proxy and proto == "https"


def client_address(request: web.Request) -> str:
    if request.app[RUNTIME].settings.trust_proxy:
        # The last entry is the one our proxy appended; earlier ones are
        # whatever the client chose to send (and would dodge the throttle).
        forwarded = request.headers.get("X-Forwarded-For", "").split(",")[-1].strip()
        if forwarded:
            return forwarded
    return request.remote or "unknown"


def set_cookie(request: web.Request, response: web.StreamResponse, name: str, value: str) -> None:
    response.set_cookie(name, value, path="/", httponly=True, samesite="Lax", secure=is_https(request))


def redirect(location: str) -> web.Response:
    """303 See Other (after a form), as a response that can carry cookies."""
    return web.Response(status=303, headers={"Location": location})


def csrf_token(request: web.Request) -> str:
    key = request.get(CSRF_KEY)
    if not key:
        return ""
    return _mac(request.app[RUNTIME].settings.secret_key, "csrf", key)


def safe_next(target: str | None) -> str:
    """Only local paths: never send a signed-in user to another site, and
    nothing a Location header can't carry (control characters, a CR LF
    that would split the header, other than printable ASCII once quoted)."""
    if not target or len(target) > 2000 or not target.isprintable():
        return "/inbox"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/inbox"
    return quote(target, safe="/?&=%#:;,+@!$'()*-._~")  # non-ASCII as %XX, as a browser sends it


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


@web.middleware
async def staff_middleware(request: web.Request, handler):
    if not request.path.startswith(STAFF_PREFIXES):
        return await handler(request)
    rt = request.app[RUNTIME]
    secret = rt.settings.secret_key
    session_id = unsign(secret, request.cookies.get(SESSION_COOKIE))
    staff = await accounts.staff_of_session(rt, session_id) if session_id else None
    if staff is not None:
        request[STAFF] = staff
        request[ACTOR] = staff.actor
        request[CSRF_KEY] = staff.key
    else:
        pre = unsign(secret, request.cookies.get(PRELOGIN_COOKIE))
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
        if not isinstance(sent, str) or not sent or not sent.isascii() or \
                not hmac.compare_digest(sent, csrf_token(request)):
            log.warning("CSRF token missing or wrong on %s %s from %s", request.method, request.path,
                        client_address(request))
            return web.Response(status=403, content_type="text/html", charset="utf-8", text=CSRF_REFUSED)
    response = await handler(request)
    if isinstance(response, web.StreamResponse) and not response.prepared:
        if NEW_PRELOGIN in request:
            set_cookie(request, response, PRELOGIN_COOKIE, sign(secret, request[NEW_PRELOGIN]))
        response.headers.update(SECURITY_HEADERS)
    return response


def start_session(request: web.Request, response: web.StreamResponse, session_id: str) -> None:
    set_cookie(request, response, SESSION_COOKIE, sign(request.app[RUNTIME].settings.secret_key, session_id))
    response.del_cookie(PRELOGIN_COOKIE, path="/")


def end_session(response: web.StreamResponse) -> None:
    response.del_cookie(SESSION_COOKIE, path="/")
