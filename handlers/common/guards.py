"""Who may see a staff page: anyone signed in, or admins only."""

from __future__ import annotations

import functools

from aiohttp import web

from .render import render
from .staff import STAFF, login_redirect


def login_required(handler):
    """Anonymous users go to the login page."""

    @functools.wraps(handler)
    async def wrapper(request: web.Request):
        if STAFF not in request:
            raise login_redirect(request)
        return await handler(request)

    return wrapper


def admin_required(handler):
    """For admin pages (accounts, calendar, canned replies, the knowledge
    base's entries): staff get 403."""

    @functools.wraps(handler)
    async def wrapper(request: web.Request):
        if STAFF not in request:
            raise login_redirect(request)
        if not request[STAFF].actor.is_admin:
            return render(request, "error.html", status=403, message="只有管理员可以进行此操作。")
        return await handler(request)

    return wrapper
