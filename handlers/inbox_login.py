"""Signing in and out of the staff pages (/login, /logout). Five failed
logins for a name (or 20 from one address) within 15 minutes lock it for
15 minutes, with the same message whether or not the user exists."""

from __future__ import annotations

from aiohttp import web

from bot.services import accounts

from .common.keys import RUNTIME
from .common.render import render
from .common.staff import STAFF, client_address, end_session, redirect, safe_next, start_session


async def login_page(request: web.Request) -> web.Response:
    if STAFF in request:
        raise web.HTTPSeeOther(safe_next(request.query.get("next")))
    no_users = not await accounts.any_user_exists(request.app[RUNTIME])
    message = "登录已过期，请重新登录。" if request.query.get("expired") else None
    return render(request, "login.html", next=safe_next(request.query.get("next")), error=None,
                  notice=message, no_users=no_users, username="")


async def login_submit(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    form = await request.post()
    username = str(form.get("username") or "")[:64]
    password = str(form.get("password") or "")[:1024]
    target = safe_next(str(form.get("next") or ""))
    actor, session_id, error = await accounts.sign_in(rt, username, password, client_address(request))
    if actor is None:
        return render(request, "login.html", status=401, next=target, error=error, notice=None,
                      no_users=not await accounts.any_user_exists(rt), username=username)
    response = redirect(target)
    start_session(request, response, session_id)
    return response


async def logout(request: web.Request) -> web.Response:
    response = redirect("/login")
    staff = request.get(STAFF)
    if staff is not None:
        await accounts.sign_out(request.app[RUNTIME], staff)
    end_session(response)
    return response


async def root(request: web.Request) -> web.Response:
    raise web.HTTPFound("/inbox")
