"""The staff triage inbox (browser pages under /inbox). Thin: parse the
form, call bot.casework (shared with the JSON API), render a template."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timezone

from aiohttp import web
from sqlalchemy import case as sql_case
from sqlalchemy import func, select

from bot import inbox as rules
from bot.cases import CHANNELS, STATUSES, mask_phone, mask_text
from bot.casework import (
    CaseError, StaleCase, add_note, add_reply, merge_case, record_delivery, retry_reply, update_case,
)
from bot.services import SERVICES, Services
from bot.workdays import UnknownCalendarYear
from nlp.base import KINDS, TOPICS
from storage import queries
from storage.models import AuditEntry, CannedReply, Case, CaseNote, Contact, Message, OutboxItem, User

from . import inbox_admin, inbox_auth, inbox_dashboard
from .inbox_auth import STAFF, login_required, redirect
from .inbox_web import STATIC, render

log = logging.getLogger(__name__)

PAGE_SIZE = 50
SORTS = {"newest": "最新登记在前", "urgent": "期限最近在前（待办视图）"}
CLOSED_VIEWS = ("answered", "closed", "all")
DELIVERY_WAYS = ("邮寄", "电话告知", "当面答复", "电子邮件", "网站回复")


class BadRequest(Exception):
    pass


def _choice(request: web.Request, name: str, choices) -> str | None:
    value = request.query.get(name) or None
    if value is not None and value not in choices:
        raise BadRequest(f"参数 {name} 的值无效")
    return value


def _int(value, name: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise BadRequest(f"参数 {name} 必须是整数") from None
    if number < 0:
        raise BadRequest(f"参数 {name} 不能为负数")
    return number


async def _usernames(session, ids) -> dict[int, str]:
    ids = {i for i in ids if i}
    if not ids:
        return {}
    rows = await session.execute(select(User.id, User.display_name, User.username).where(User.id.in_(ids)))
    return {r[0]: r[1] or r[2] for r in rows}


def _context(services: Services):
    now = datetime.now(timezone.utc)
    tz = services.settings.tz
    return now, tz


# ---- the list -------------------------------------------------------------------

@login_required
async def inbox_list(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    staff = request[STAFF]
    try:
        view = request.query.get("view") or "open"
        if view not in rules.VIEWS:
            raise BadRequest("没有这个视图")
        channel = _choice(request, "channel", CHANNELS)
        kind = _choice(request, "kind", KINDS)
        topic = _choice(request, "topic", TOPICS)
        status = _choice(request, "status", STATUSES)
        sort = _choice(request, "sort", SORTS) or "newest"
        before = _int(request.query.get("before"), "before")
        page = _int(request.query.get("page"), "page") or 0
        q = (request.query.get("q") or "").strip()[:100]
    except BadRequest as exc:
        return render(request, "error.html", status=400, message=str(exc))
    if view in CLOSED_VIEWS:
        # Deadlines matter while a case is open; ordering a million closed
        # cases by deadline would be a full sort for nothing.
        sort = "newest"
    now, tz = _context(services)
    calendar = await services.refresh_calendar()
    calendar_error = None
    try:
        cutoff = rules.due_soon_cutoff(now.astimezone(tz).date(), tz, calendar)
    except UnknownCalendarYear as exc:
        cutoff, calendar_error = None, str(exc)
    base = queries.cases_query(channel=channel, kind=kind, topic=topic, status=status, q=q or None)
    cond = rules.view_condition(view, user_id=staff.id, now=now, due_cutoff=cutoff)
    async with services.read_sessions() as session:
        # One pass over the open cases counts every open view (indexes on status).
        counts = await count_open_views(session, base, user_id=staff.id, now=now, due_cutoff=cutoff)
        stmt = base if cond is None else base.where(cond)
        if view not in counts:
            counts[view] = await capped_count(session, stmt)
        if sort == "urgent":
            page_stmt = stmt.order_by(Case.deadline_at.is_(None), Case.deadline_at, Case.id) \
                .offset(page * PAGE_SIZE).limit(PAGE_SIZE + 1)
        else:
            page_stmt = stmt.order_by(Case.id.desc()).limit(PAGE_SIZE + 1)
            if before:
                page_stmt = page_stmt.where(Case.id < before)
        cases = list((await session.execute(page_stmt)).scalars())
        more = len(cases) > PAGE_SIZE
        cases = cases[:PAGE_SIZE]
        names = await _usernames(session, [c.assignee_id for c in cases])
        deadline_errors = 0
        if staff.role == "admin":
            deadline_errors = (await session.execute(
                select(func.count()).select_from(Case).where(Case.deadline_error.is_not(None), rules.open_cases())
            )).scalar_one()
    rows = [{"case": c, "assignee": names.get(c.assignee_id), "deadline": rules.deadline_state(c, now, tz, calendar),
             "excerpt": mask_text(c.title or c.text or "")[:80]} for c in cases]
    params = {k: v for k, v in {"view": view, "channel": channel, "kind": kind, "topic": topic, "status": status,
                                "q": q, "sort": sort}.items() if v}
    next_link = None
    if more:
        next_link = {**params, "page": page + 1} if sort == "urgent" else {**params, "before": cases[-1].id}
    return render(request, "inbox.html", rows=rows, view=view, views=rules.VIEWS, counts=counts, params=params,
                  channel=channel, kind=kind, topic=topic, status_filter=status, sort=sort, sorts=SORTS, q=q,
                  next_link=next_link, first_page=not before and not page, calendar_error=calendar_error,
                  deadline_errors=deadline_errors, count_cap=COUNT_CAP, CHANNELS=CHANNELS, KINDS=KINDS, TOPICS=TOPICS, STATUSES=STATUSES)


COUNT_CAP = 10_000


async def capped_count(session, stmt) -> int:
    """Rows matching, counting no further than COUNT_CAP + 1: an exact total
    of a million closed cases costs a full scan and tells staff nothing."""
    limited = stmt.order_by(None).with_only_columns(Case.id).limit(COUNT_CAP + 1).subquery()
    return (await session.execute(select(func.count()).select_from(limited))).scalar_one()


async def count_open_views(session, base, *, user_id: int | None, now: datetime, due_cutoff) -> dict[str, int]:
    """Every open view's count in one pass over the open cases (the partial
    index ix_cases_open covers all the columns it reads)."""
    columns = [func.count().label("open")]
    for v in rules.OPEN_VIEWS[1:]:
        cond = rules.open_view_filter(v, user_id=user_id, now=now, due_cutoff=due_cutoff)
        columns.append(func.coalesce(func.sum(sql_case((cond, 1), else_=0)), 0).label(v))
    row = (await session.execute(base.where(rules.open_cases()).with_only_columns(*columns))).one()
    return {v: int(row[i]) for i, v in enumerate(rules.OPEN_VIEWS)}


# ---- one case -------------------------------------------------------------------

async def _case_or_404(session, request: web.Request, *, for_update: bool = False) -> Case:
    try:
        case_id = int(request.match_info["case_id"])
    except ValueError:
        raise web.HTTPNotFound() from None
    # An action locks the row (PostgreSQL), so the version check can't lose a
    # concurrent edit; SQLite's BEGIN IMMEDIATE already serialises writers.
    case = await session.get(Case, case_id, with_for_update=for_update)
    if case is None:
        raise web.HTTPNotFound()
    return case


async def _case_page(request: web.Request, case_id: int, *, status: int = 200, error: str | None = None,
                     draft: str = "", notice: str | None = None) -> web.Response:
    services = request.app[SERVICES]
    now, tz = _context(services)
    calendar = await services.refresh_calendar()
    unmask = request.query.get("unmask") == "1"
    async with services.sessions() as session:
        case = await session.get(Case, case_id)
        if case is None:
            raise web.HTTPNotFound()
        contact = await session.get(Contact, case.contact_id) if case.contact_id else None
        messages = list(await queries.case_messages(session, case.id))
        notes = list((await session.execute(
            select(CaseNote).where(CaseNote.case_id == case.id).order_by(CaseNote.id))).scalars())
        audit = list((await session.execute(
            select(AuditEntry).where(AuditEntry.case_id == case.id).order_by(AuditEntry.id))).scalars())
        users = list((await session.execute(
            select(User).where(User.active.is_(True)).order_by(User.username))).scalars())
        canned = list((await session.execute(
            select(CannedReply).where(CannedReply.active.is_(True)).order_by(CannedReply.title))).scalars())
        merged_from = list((await session.execute(
            select(Case.id, Case.number).where(Case.merged_into_id == case.id).order_by(Case.id))).all())
        merged_into = await session.get(Case, case.merged_into_id) if case.merged_into_id else None
        names = await _usernames(session, [case.assignee_id, *(m.author_id for m in messages),
                                           *(n.author_id for n in notes)])
        window = None
        if case.channel == "wechat" and contact is not None:
            window = await _wechat_window(session, contact, now)
        if unmask:  # seeing a citizen's full number is a recorded act
            session.add(AuditEntry(actor=request[STAFF].actor.label, action="contact.unmasked", case_id=case.id,
                                   detail={}))
            await session.commit()
    show = (lambda t: t or "") if unmask else (lambda t: mask_text(t or ""))
    phone = None
    if contact is not None and contact.phone:
        phone = contact.phone if unmask else mask_phone(contact.phone)
    return render(
        request, "case.html", status=status, case=case, contact=contact, phone=phone, unmask=unmask,
        messages=messages, notes=notes, audit=audit, users=users, canned=canned, names=names,
        merged_from=merged_from, merged_into=merged_into, window=window, show=show,
        deadline=rules.deadline_state(case, now, tz, calendar), error=error, draft=draft, notice=notice,
        KINDS=KINDS, TOPICS=TOPICS, STATUSES=STATUSES, delivery_ways=DELIVERY_WAYS,
        outbound=case.channel in ("wechat", "hotline"),
    )


async def _wechat_window(session, contact: Contact, now: datetime) -> rules.WeChatWindow:
    last_in = (await session.execute(
        select(func.max(Message.created_at)).where(Message.contact_id == contact.id, Message.direction == "in",
                                                   Message.channel == "wechat")
    )).scalar_one_or_none()
    used = 0
    if last_in is not None:
        used = (await session.execute(
            select(func.count()).select_from(OutboxItem).join(Case, Case.id == OutboxItem.case_id)
            .where(Case.contact_id == contact.id, OutboxItem.target == "wechat",
                   OutboxItem.created_at >= last_in, OutboxItem.status.in_(("pending", "sent")))
        )).scalar_one()
    return rules.wechat_window(last_in, used, now, phone=contact.phone)


@login_required
async def case_view(request: web.Request) -> web.Response:
    try:
        case_id = int(request.match_info["case_id"])
    except ValueError:
        raise web.HTTPNotFound() from None
    notices = {"updated": "已保存。", "replied": "答复已记录。", "noted": "备注已添加。", "merged": "已合并。",
               "retried": "已重新排队发送。", "delivered": "已记录送达方式。"}
    return await _case_page(request, case_id, notice=notices.get(request.query.get("done", "")))


def _version(form) -> int:
    try:
        return int(form.get("version", ""))
    except ValueError:
        raise CaseError("表单缺少版本号，请刷新页面后重试", "version") from None


async def _act(request: web.Request, action, *, draft_field: str | None = None, done: str) -> web.Response:
    """Run one staff action in a transaction; stale or invalid forms re-show
    the page with the reason and the staff member's input kept."""
    services = request.app[SERVICES]
    form = await request.post()
    failure: tuple[int, str] | None = None
    async with services.sessions() as session:
        case = await _case_or_404(session, request, for_update=True)
        case_id = case.id
        try:
            await action(session, case, form)
            await session.commit()
        except StaleCase as exc:
            await session.rollback()
            failure = (409, str(exc) + "（您的修改未保存）")
        except CaseError as exc:
            await session.rollback()
            failure = (400, str(exc))
    if failure is not None:
        return await _case_page(request, case_id, status=failure[0], error=failure[1],
                                draft=str(form.get(draft_field) or "") if draft_field else "")
    worker = services.extras.get("outbox.worker")
    if worker is not None:
        worker.notify()
    return redirect(f"/inbox/cases/{case_id}?done={done}")


def _check_version(case: Case, form) -> None:
    expected = _version(form)
    if expected != case.version:
        raise StaleCase(case.version)


@login_required
async def case_update(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    actor = request[STAFF].actor

    async def action(session, case, form):
        changes = {}
        for name in ("kind", "topic", "status"):
            value = form.get(name)
            if value and value != getattr(case, name):
                changes[name] = value
        if "assignee" in form:
            current = (await session.get(User, case.assignee_id)).username if case.assignee_id else ""
            if form.get("assignee", "") != current:
                changes["assignee"] = form.get("assignee") or None
        await update_case(session, case, changes, actor, expected_version=_version(form),
                          calendar=services.calendar, tz=services.settings.tz, settings=services.settings)

    return await _act(request, action, done="updated")


@login_required
async def case_reply(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    actor = request[STAFF].actor

    async def action(session, case, form):
        _check_version(case, form)
        if case.merged_into_id:
            raise CaseError("该案件已合并，请在合并后的案件中答复", "text")
        text = str(form.get("text") or "")
        if len(text) > 5000:
            raise CaseError("答复过长（最多 5000 字）", "text")
        delivered_by = str(form.get("delivered_by") or "").strip()[:50] or None
        if case.channel not in ("wechat", "hotline") and not delivered_by:
            raise CaseError("请选择答复的送达方式", "delivered_by")
        await add_reply(session, case, text, actor, delivered_by=delivered_by,
                        calendar=services.calendar, tz=services.settings.tz)

    return await _act(request, action, draft_field="text", done="replied")


@login_required
async def case_note(request: web.Request) -> web.Response:
    actor = request[STAFF].actor

    async def action(session, case, form):
        await add_note(session, case, str(form.get("text") or ""), actor)

    return await _act(request, action, draft_field="text", done="noted")


@login_required
async def case_merge(request: web.Request) -> web.Response:
    actor = request[STAFF].actor

    async def action(session, case, form):
        number = str(form.get("target") or "").strip().upper()
        if not number:
            raise CaseError("请填写要并入的案件受理编号", "target")
        target = (await session.execute(select(Case).where(Case.number == number))).scalar_one_or_none()
        if target is None:
            raise CaseError(f"没有受理编号为 {number} 的案件", "target")
        await merge_case(session, case, target, actor, expected_version=_version(form))

    return await _act(request, action, done="merged")


async def _message_of(session, case: Case, request: web.Request) -> Message:
    try:
        message = await session.get(Message, int(request.match_info["message_id"]))
    except ValueError:
        message = None
    if message is None or message.case_id != case.id:
        raise CaseError("没有这条答复", "message")
    return message


@login_required
async def message_retry(request: web.Request) -> web.Response:
    actor = request[STAFF].actor

    async def action(session, case, form):
        await retry_reply(session, case, await _message_of(session, case, request), actor)

    return await _act(request, action, done="retried")


@login_required
async def message_delivered(request: web.Request) -> web.Response:
    actor = request[STAFF].actor

    async def action(session, case, form):
        await record_delivery(session, case, await _message_of(session, case, request),
                              str(form.get("delivered_by") or ""), actor)

    return await _act(request, action, done="delivered")


async def not_found_page(request: web.Request, handler):
    try:
        return await handler(request)
    except web.HTTPNotFound:
        if request.path.startswith("/inbox") and STAFF in request:
            return render(request, "error.html", status=404, message="没有找到这个页面或案件。")
        raise


@web.middleware
async def inbox_errors(request: web.Request, handler):
    return await not_found_page(request, handler)


def setup(app: web.Application) -> None:
    import bot.wechat_sender  # noqa: F401  registers the outbox's "wechat" sender

    inbox_auth.setup(app)
    app.middlewares.append(inbox_errors)
    app.router.add_get("/", _root)
    app.router.add_get("/inbox", inbox_list)
    app.router.add_get("/inbox/", inbox_list)
    app.router.add_get("/inbox/cases/{case_id}", case_view)
    app.router.add_post("/inbox/cases/{case_id}/update", case_update)
    app.router.add_post("/inbox/cases/{case_id}/reply", case_reply)
    app.router.add_post("/inbox/cases/{case_id}/note", case_note)
    app.router.add_post("/inbox/cases/{case_id}/merge", case_merge)
    app.router.add_post("/inbox/cases/{case_id}/messages/{message_id}/retry", message_retry)
    app.router.add_post("/inbox/cases/{case_id}/messages/{message_id}/delivered", message_delivered)
    app.router.add_static("/inbox/static/", STATIC, name="inbox_static")
    inbox_admin.setup(app)
    inbox_dashboard.setup(app)
    app.on_startup.append(_hint_first_account)
    app.cleanup_ctx.append(_planner_statistics)


STATISTICS_EVERY = 6 * 3600.0  # seconds between checks


async def refresh_planner_statistics(engine, *, force: bool = False) -> bool:
    """SQLite plans from sqlite_stat1, which nothing else maintains: without
    it (or with stale figures) it takes status or channel for selective and
    sorts half the table for one page. ANALYZE when the cases table has no
    statistics or has more than doubled (or halved) since: a few seconds of
    write lock at a million cases, so rarely. (A sampled ANALYZE reads only
    the first rows of each index and misjudges exactly these columns.)
    PostgreSQL's autovacuum does this by itself. True when it analysed."""
    if engine.dialect.name != "sqlite":
        return False
    async with engine.connect() as conn:
        conn = await conn.execution_options(readonly=True)
        async with conn.begin():
            rows = (await conn.exec_driver_sql("SELECT count(*) FROM cases")).scalar_one()
            try:
                stat = (await conn.exec_driver_sql(
                    "SELECT stat FROM sqlite_stat1 WHERE tbl = 'cases' AND idx IS NOT NULL LIMIT 1")).scalar()
            except Exception:  # no sqlite_stat1 yet: never analysed
                stat = None
    analysed = int(stat.split()[0]) if stat else None
    if not force and analysed is not None and analysed / 2 <= rows <= analysed * 2 + 1000:
        return False
    async with engine.begin() as conn:
        await conn.exec_driver_sql("PRAGMA analysis_limit=0")
        await conn.exec_driver_sql("ANALYZE")
    log.info("query planner statistics refreshed (%d cases)", rows)
    return True


async def _planner_statistics(app: web.Application):
    services = app[SERVICES]

    async def loop() -> None:
        while True:
            try:
                await refresh_planner_statistics(services.engine)
            except Exception:  # statistics only make queries faster; never fatal
                log.warning("refreshing the query planner's statistics failed", exc_info=True)
            await asyncio.sleep(STATISTICS_EVERY)

    task = asyncio.create_task(loop(), name="planner-statistics")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _hint_first_account(app: web.Application) -> None:
    """A fresh install has no account and no default password: say how to make one."""
    services = app[SERVICES]
    try:
        if await inbox_auth.any_user_exists(services):
            return
    except Exception:  # the database is checked by /healthz; this is only a hint
        log.debug("could not check for staff accounts", exc_info=True)
        return
    settings = services.settings
    log.warning("还没有工作人员账号：请运行 `.venv/bin/intake user add 用户名 --role admin` 创建管理员，"
                "然后在 http://%s:%s/login 登录", settings.host, settings.port)


async def _root(request: web.Request) -> web.Response:
    raise web.HTTPFound("/inbox")
