"""Forms on the public pages (no sign-in: /track's rating): CSRF by a signed
double-submit cookie, and the headers every public page carries.

The cookie holds a random key signed with INTAKE_SECRET_KEY; the form's
hidden ``csrf_token`` is an HMAC of that key for this purpose. Another site
can make a browser send the cookie but can neither read it nor compute the
token, and a token is worth nothing without the matching cookie.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from aiohttp import web
from multidict import MultiDictProxy

from .keys import RUNTIME
from .staff import SECURITY_HEADERS, set_cookie, sign, unsign

PUBLIC_COOKIE = "intake_public_form"
NEW_KEY = web.RequestKey("public_form_new_key", str)
# The citizen's pages carry a 查询码 in their address: it goes nowhere else.
PUBLIC_HEADERS = {**SECURITY_HEADERS, "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}


def _token_of(secret: str, key: str) -> str:
    digest = hmac.new(secret.encode(), f"public-form:{key}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def form_token(request: web.Request) -> str:
    """The token for a form on the page being rendered; ``finish`` sets the
    cookie it belongs to when the browser has none yet."""
    secret = request.app[RUNTIME].settings.secret_key
    key = unsign(secret, request.cookies.get(PUBLIC_COOKIE)) or request.get(NEW_KEY)
    if key is None:
        key = request[NEW_KEY] = secrets.token_urlsafe(24)
    return _token_of(secret, key)


def finish(request: web.Request, response: web.Response) -> web.Response:
    """A public page's response: its headers, and the form cookie if new."""
    if NEW_KEY in request:
        set_cookie(request, response, PUBLIC_COOKIE, sign(request.app[RUNTIME].settings.secret_key, request[NEW_KEY]))
    response.headers.update(PUBLIC_HEADERS)
    return response


async def checked_form(request: web.Request) -> MultiDictProxy | None:
    """The posted form if its ``csrf_token`` matches the cookie, else None
    (a missing or forged token, no cookie, a body that is not a form)."""
    try:
        form = await request.post()
    except (ValueError, UnicodeDecodeError):
        return None
    key = unsign(request.app[RUNTIME].settings.secret_key, request.cookies.get(PUBLIC_COOKIE))
    sent = form.get("csrf_token")
    if key is None or not isinstance(sent, str) or not sent:
        return None
    expected = _token_of(request.app[RUNTIME].settings.secret_key, key)
    return form if hmac.compare_digest(sent.encode("utf-8", "surrogatepass"), expected.encode()) else None
