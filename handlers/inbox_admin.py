"""Admin pages: canned replies (all staff read them), staff accounts, the
holiday calendar."""

from __future__ import annotations

from aiohttp import web

from bot.domain.errors import DomainError
from bot.domain.text import fits_int64
from bot.domain.workdays import parse_days
from bot.services import accounts, calendar, canned

from .common.errors import status_of
from .common.guards import admin_required, login_required
from .common.keys import ACTOR, RUNTIME
from .common.render import render
from .common.staff import redirect


# ---- canned replies -------------------------------------------------------------

@login_required
async def canned_list(request: web.Request) -> web.Response:
    items = await canned.all_replies(request.app[RUNTIME])
    return render(request, "canned.html", items=items, error=None, form={})


@admin_required
async def canned_save(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    form = await request.post()
    raw_id = str(form.get("id") or "")
    try:
        await canned.save(rt, request[ACTOR], reply_id=int(raw_id) if raw_id.isascii() and raw_id.isdigit() and fits_int64(int(raw_id)) else (-1 if raw_id else None),
                          title=str(form.get("title") or ""), text=str(form.get("text") or ""),
                          active=form.get("active", "1") == "1", reply_type=str(form.get("reply_type") or ""))
    except DomainError as exc:
        return render(request, "canned.html", status=400, items=await canned.all_replies(rt), error=exc.message,
                      form=dict(form))
    return redirect("/inbox/canned")


# ---- accounts -------------------------------------------------------------------

async def _users_page(request: web.Request, *, status: int = 200, error: str | None = None) -> web.Response:
    users = await accounts.list_users(request.app[RUNTIME])
    return render(request, "users.html", status=status, users=users, error=error)


@admin_required
async def users_page(request: web.Request) -> web.Response:
    return await _users_page(request)


@admin_required
async def users_save(request: web.Request) -> web.Response:
    rt, actor = request.app[RUNTIME], request[ACTOR]
    form = await request.post()
    op = form.get("op")
    try:
        if op == "add":
            await accounts.add_user(rt, actor, str(form.get("username") or ""), role=str(form.get("role") or ""),
                                    password=str(form.get("password") or ""),
                                    display_name=str(form.get("display_name") or ""))
        else:
            user_id = str(form.get("user_id") or "")
            await accounts.change_user(rt, actor, int(user_id) if user_id.isdigit() else -1, str(op or ""),
                                       password=str(form.get("password") or ""))
    except DomainError as exc:
        return await _users_page(request, status=400, error=exc.message)
    return redirect("/inbox/admin/users")


# ---- the holiday calendar ---------------------------------------------------------

async def _calendar_page(request: web.Request, *, status: int = 200, error: str | None = None,
                         form: dict | None = None, notice: str | None = None) -> web.Response:
    state = await calendar.state(request.app[RUNTIME])
    return render(request, "calendar.html", status=status, years=state.years, days=state.days, errors=state.undated,
                  error=error, form=form or {}, notice=notice, package_years=state.package_years)


@admin_required
async def calendar_page(request: web.Request) -> web.Response:
    return await _calendar_page(request)


@admin_required
async def calendar_save(request: web.Request) -> web.Response:
    form = await request.post()
    raw_year = str(form.get("year") or "0")
    try:
        year = int(raw_year) if raw_year.strip().lstrip("-").isdigit() else 0
        holidays = parse_days(str(form.get("holidays") or ""), year, "holidays") if 2000 <= year <= 2100 else []
        workdays = parse_days(str(form.get("workdays") or ""), year, "workdays") if 2000 <= year <= 2100 else []
        fixed = await calendar.enter_year(request.app[RUNTIME], request[ACTOR], year, holidays, workdays)
    except DomainError as exc:
        return await _calendar_page(request, status=status_of(exc), error=exc.message, form=dict(form))
    return await _calendar_page(request, notice=f"{year} 年节假日已保存；{fixed} 个案件的办理期限已重新计算。")


