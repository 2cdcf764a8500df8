"""Admin pages: canned replies, staff accounts, the holiday calendar."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

from aiohttp import web
from sqlalchemy import delete, select

from bot.inbox import open_cases
from bot.security import hash_password
from bot.services import SERVICES
from bot.workdays import PACKAGE_YEARS
from storage import queries
from storage.models import AuditEntry, CalendarDay, CalendarYear, CannedReply, Case, StaffSession, User

from .inbox_auth import STAFF, admin_required, login_required, redirect
from .inbox_web import render


class FormError(ValueError):
    pass


# ---- canned replies -------------------------------------------------------------

@login_required
async def canned_list(request: web.Request) -> web.Response:
    async with request.app[SERVICES].sessions() as session:
        items = list((await session.execute(select(CannedReply).order_by(CannedReply.active.desc(),
                                                                          CannedReply.title))).scalars())
    return render(request, "canned.html", items=items, error=None, form={})


@admin_required
async def canned_save(request: web.Request) -> web.Response:
    form = await request.post()
    title = str(form.get("title") or "").strip()
    text = str(form.get("text") or "").strip()
    services = request.app[SERVICES]
    actor = request[STAFF].actor.label
    async with services.sessions() as session:
        error = None
        if not title or len(title) > 100:
            error = "标题不能为空，且不超过100字"
        elif not text or len(text) > 2000:
            error = "内容不能为空，且不超过2000字（微信消息有长度限制）"
        item_id = form.get("id")
        item = None
        if not error and item_id:
            item = await session.get(CannedReply, int(item_id)) if str(item_id).isdigit() else None
            if item is None:
                error = "没有这条常用答复"
        if error:
            items = list((await session.execute(select(CannedReply).order_by(CannedReply.title))).scalars())
            return render(request, "canned.html", status=400, items=items, error=error, form=dict(form))
        if item is None:
            item = CannedReply(title=title, text=text, active=True)
            session.add(item)
        item.title, item.text = title, text
        item.active = form.get("active", "1") == "1"
        item.updated_by, item.updated_at = actor, datetime.now(timezone.utc)
        await session.flush()
        session.add(AuditEntry(actor=actor, action="canned.saved", detail={"id": item.id, "title": title}))
        await session.commit()
    return redirect("/inbox/canned")


# ---- accounts -------------------------------------------------------------------

@admin_required
async def users_page(request: web.Request, *, status: int = 200, error: str | None = None) -> web.Response:
    async with request.app[SERVICES].sessions() as session:
        users = list((await session.execute(select(User).order_by(User.username))).scalars())
    return render(request, "users.html", status=status, users=users, error=error)


@admin_required
async def users_save(request: web.Request) -> web.Response:
    form = await request.post()
    services = request.app[SERVICES]
    actor = request[STAFF].actor.label
    op = form.get("op")
    async with services.sessions() as session:
        try:
            if op == "add":
                name = str(form.get("username") or "").strip()
                if not re.fullmatch(r"[A-Za-z0-9_.-]{2,64}", name):
                    raise FormError("用户名须为2–64位字母、数字、点、下划线或连字符")
                if await queries.user_by_name(session, name):
                    raise FormError(f"用户 {name} 已存在")
                role = form.get("role")
                if role not in ("admin", "staff"):
                    raise FormError("角色无效")
                password = str(form.get("password") or "")
                if len(password) < 8:
                    raise FormError("密码至少 8 位")
                session.add(User(username=name, display_name=str(form.get("display_name") or "").strip() or None,
                                 role=role, password_hash=hash_password(password)))
                session.add(AuditEntry(actor=actor, action="user.created", detail={"username": name, "role": role}))
            elif op in ("deactivate", "activate", "password"):
                user = await session.get(User, int(form.get("user_id") or 0)) if str(form.get("user_id") or "").isdigit() else None
                if user is None:
                    raise FormError("没有这个用户")
                if op == "password":
                    password = str(form.get("password") or "")
                    if len(password) < 8:
                        raise FormError("密码至少 8 位")
                    user.password_hash = hash_password(password)
                else:
                    if user.id == request[STAFF].id and op == "deactivate":
                        raise FormError("不能停用自己的账号")
                    user.active = op == "activate"
                # Either way the user's browsers sign in again.
                await session.execute(delete(StaffSession).where(StaffSession.user_id == user.id))
                session.add(AuditEntry(actor=actor, action=f"user.{op}", detail={"username": user.username}))
            else:
                raise FormError("未知操作")
        except FormError as exc:
            await session.rollback()
            return await users_page.__wrapped__(request, status=400, error=str(exc))
        await session.commit()
    return redirect("/inbox/admin/users")


# ---- the holiday calendar ---------------------------------------------------------

_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")


def parse_days(text: str, year: int) -> list[date]:
    """Dates one per line or separated by commas; a range as
    2027-02-10..2027-02-16 (or with ～ / ~ / 至)."""
    days: list[date] = []
    for chunk in re.split(r"[\n,，;；]+", text or ""):
        chunk = chunk.strip()
        if not chunk:
            continue
        parts = re.split(r"\s*(?:\.\.|～|~|至)\s*", chunk)
        try:
            dates = [date(*map(int, _DATE.fullmatch(p).groups())) for p in parts]  # type: ignore[union-attr]
        except (AttributeError, ValueError):
            raise FormError(f"无法识别的日期：{chunk}（格式：2027-01-01 或 2027-02-10..2027-02-16）") from None
        if len(dates) == 1:
            days.append(dates[0])
        elif len(dates) == 2 and dates[0] <= dates[1] and (dates[1] - dates[0]).days < 40:
            days.extend(dates[0] + timedelta(days=i) for i in range((dates[1] - dates[0]).days + 1))
        else:
            raise FormError(f"日期范围无效：{chunk}")
    for d in days:
        if d.year != year:
            raise FormError(f"{d.isoformat()} 不在 {year} 年")
    return sorted(set(days))


@admin_required
async def calendar_page(request: web.Request, *, status: int = 200, error: str | None = None,
                        form: dict | None = None, notice: str | None = None) -> web.Response:
    services = request.app[SERVICES]
    async with services.sessions() as session:
        years = list((await session.execute(select(CalendarYear).order_by(CalendarYear.year))).scalars())
        days = list((await session.execute(select(CalendarDay).order_by(CalendarDay.day))).scalars())
        errors = list((await session.execute(
            select(Case.id, Case.number, Case.deadline_error).where(Case.deadline_error.is_not(None), open_cases())
            .order_by(Case.id).limit(200))).all())
    return render(request, "calendar.html", status=status, years=years, days=days, errors=errors, error=error,
                  form=form or {}, notice=notice, package_years=(min(PACKAGE_YEARS), max(PACKAGE_YEARS)))


@admin_required
async def calendar_save(request: web.Request) -> web.Response:
    form = await request.post()
    services = request.app[SERVICES]
    actor = request[STAFF].actor.label
    try:
        year = int(str(form.get("year") or "0"))
        if not 2000 <= year <= 2100:
            raise FormError("年份无效")
        holidays = parse_days(str(form.get("holidays") or ""), year)
        workdays = parse_days(str(form.get("workdays") or ""), year)
        if set(holidays) & set(workdays):
            raise FormError("同一天不能既是节假日又是调休上班日")
        if not holidays:
            raise FormError("请填写该年的法定节假日（按国务院办公厅通知）")
    except (FormError, ValueError) as exc:
        return await calendar_page.__wrapped__(request, status=400, error=str(exc), form=dict(form))
    async with services.sessions() as session:
        await session.execute(delete(CalendarDay).where(CalendarDay.day >= date(year, 1, 1),
                                                        CalendarDay.day <= date(year, 12, 31)))
        for d in holidays:
            session.add(CalendarDay(day=d, is_workday=False, note="节假日"))
        for d in workdays:
            session.add(CalendarDay(day=d, is_workday=True, note="调休上班"))
        await session.execute(delete(CalendarYear).where(CalendarYear.year == year))
        session.add(CalendarYear(year=year, entered_by=actor))
        session.add(AuditEntry(actor=actor, action="calendar.saved",
                               detail={"year": year, "holidays": len(holidays), "workdays": len(workdays)}))
        await session.commit()
    calendar = await services.refresh_calendar(force=True)
    fixed = await recompute_missing_deadlines(services, calendar)
    return await calendar_page.__wrapped__(
        request, notice=f"{year} 年节假日已保存；{fixed} 个案件的办理期限已重新计算。")


async def recompute_missing_deadlines(services, calendar) -> int:
    """Cases whose deadline could not be computed get one now the year is known."""
    from bot.cases import compute_deadline

    tz = services.settings.tz
    fixed = 0
    async with services.sessions() as session:
        cases = list((await session.execute(
            select(Case).where(Case.deadline_error.is_not(None), Case.deadline_days.is_not(None)))).scalars())
        for case in cases:
            d = compute_deadline(case.received_at, case.deadline_days, tz, calendar)
            if d.due_at is not None:
                case.deadline_at, case.deadline_error = d.due_at, None
                session.add(AuditEntry(actor="system", action="case.deadline_computed", case_id=case.id,
                                       detail={"deadline": d.due_at.isoformat()}))
                fixed += 1
        await session.commit()
    return fixed


def setup(app: web.Application) -> None:
    app.router.add_get("/inbox/canned", canned_list)
    app.router.add_post("/inbox/canned", canned_save)
    app.router.add_get("/inbox/admin/users", users_page)
    app.router.add_post("/inbox/admin/users", users_save)
    app.router.add_get("/inbox/admin/calendar", calendar_page)
    app.router.add_post("/inbox/admin/calendar", calendar_save)
