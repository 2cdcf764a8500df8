"""Forms on the public pages (the web letter box, /track's rating): no
session, so CSRF is a signed double-submit token, and what a citizen must
see once (a receipt) travels in a short-lived signed cookie, never in a
URL or a log.

- CSRF: a random nonce in an HttpOnly cookie, signed with INTAKE_SECRET_KEY
  (so a cookie planted by a neighbouring site is refused); the form's hidden
  ``csrf_token`` is HMAC(secret, nonce). A cross-site page can neither read
  the cookie nor compute the token.
- A one-time value (``issue_once``, ``read_once``, ``forget_once``): signed, with its time,
  limited to one path, deleted by the page that shows it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time

from aiohttp import web
from multidict import MultiDictProxy

from .keys import RUNTIME
from .staff import is_https

FORM_COOKIE = "intake_public_form"
FORM_NONCE = web.RequestKey("public_form_nonce", str)

# Public pages load nothing from elsewhere and run no script at all; /track's
# addresses carry a 查询码, so no page tells another site where it was, and
# none is kept in a shared cache.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
                               "base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _mac(secret: str, purpose: str, value: str) -> str:
    digest = hmac.new(secret.encode(), f"{purpose}:{value}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _signed(secret: str, purpose: str, value: str) -> str:
    return f"{value}.{_mac(secret, purpose, value)}"


def _unsigned(secret: str, purpose: str, signed: str | None) -> str | None:
    if not signed or "." not in signed or len(signed) > 4096:
        return None
    value, _, mac = signed.rpartition(".")
    return value if hmac.compare_digest(mac.encode("utf-8", "surrogatepass"),
                                        _mac(secret, purpose, value).encode()) else None


def _secret(request: web.Request) -> str:
    return request.app[RUNTIME].settings.secret_key


def form_token(request: web.Request) -> str:
    """The hidden ``csrf_token`` of a form on this page; the page's response
    must go through ``finish`` (which sets the cookie the token belongs to)."""
    nonce = _unsigned(_secret(request), "public-form", request.cookies.get(FORM_COOKIE))
    if nonce is None:
        nonce = request.get(FORM_NONCE) or secrets.token_urlsafe(24)
        request[FORM_NONCE] = nonce  # new: ``finish`` sets it
    return _mac(_secret(request), "public-csrf", nonce)


def form_token_valid(request: web.Request, sent: object) -> bool:
    nonce = _unsigned(_secret(request), "public-form", request.cookies.get(FORM_COOKIE))
    if nonce is None or not isinstance(sent, str) or not sent:
        return False
    # As bytes: compare_digest refuses a str that is not ASCII, and a forger may send one.
    return hmac.compare_digest(sent.encode("utf-8", "surrogatepass"), _mac(_secret(request), "public-csrf", nonce).encode())


async def checked_form(request: web.Request) -> MultiDictProxy | None:
    """The posted form if its ``csrf_token`` matches the cookie, else None
    (a missing or forged token, no cookie, a body that is not a form)."""
    try:
        form = await request.post()
    except (ValueError, UnicodeDecodeError):
        return None
    return form if form_token_valid(request, form.get("csrf_token")) else None


def finish(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
    """Security headers, and the form cookie when this response issued one."""
    response.headers.update(SECURITY_HEADERS)
    if FORM_NONCE in request:
        response.set_cookie(FORM_COOKIE, _signed(_secret(request), "public-form", request[FORM_NONCE]), path="/",
                            httponly=True, samesite="Lax", secure=is_https(request))
    return response


def issue_once(request: web.Request, response: web.StreamResponse, name: str, path: str, value: dict,
               max_age: int) -> None:
    """``value`` for the next request to ``path`` only, within ``max_age`` seconds."""
    body = base64.urlsafe_b64encode(json.dumps({"v": value, "t": int(time.time())}).encode()).decode()
    response.set_cookie(name, _signed(_secret(request), f"once:{name}", body), path=path, max_age=max_age,
                        httponly=True, samesite="Strict", secure=is_https(request))


def read_once(request: web.Request, name: str, max_age: int) -> dict | None:
    """The value ``issue_once`` left for this request (None if absent, forged
    or too old); the page that shows it deletes it with ``forget_once``."""
    body = _unsigned(_secret(request), f"once:{name}", request.cookies.get(name))
    if body is None:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(body.encode()))
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("v"), dict) or not isinstance(data.get("t"), int):
        return None
    return data["v"] if 0 <= time.time() - data["t"] <= max_age else None


def forget_once(request: web.Request, response: web.StreamResponse, name: str, path: str) -> None:
    if name in request.cookies:
        response.del_cookie(name, path=path)
