"""The staff inbox's case pages (/inbox, /inbox/cases/{id} and its forms).
A stale or invalid form re-shows the page with the reason and the staff
member's input kept."""

from __future__ import annotations

from aiohttp import web

from bot.domain.casework import CaseError
from bot.domain.errors import DomainError, InvalidInput
from bot.domain.inbox import CLOSED_VIEWS, VIEWS, CaseFilter, case_marks, classification_note
from bot.domain.masking import mask_phone, mask_text
from bot.domain.text import fits_int64
from bot.domain.vocabulary import CHANNELS, KINDS, STATUSES, TOPICS, Channel, RatingSource
from bot.services import cases, letters, lifecycle, tracking

from .common.errors import status_of
from .common.guards import login_required
from .common.keys import ACTOR, RUNTIME
from .common.params import path_id
from .common.render import render
from .common.staff import redirect

SORTS = {"newest": "最新登记在前", "urgent": "期限最近在前（待办视图）"}
DELIVERY_WAYS = ("邮寄", "电话告知", "当面答复", "电子邮件", "网站回复")
COUNT_CAP = 10_000
NOTICES = {"updated": "已保存。", "replied": "答复已记录。", "noted": "备注已添加。", "merged": "已合并。",
           "retried": "已重新排队发送。", "delivered": "已记录送达方式。", "extended": "已延期，办理期限已更新。",
           "extension_requested": "延期申请已提交，待管理员审批。", "extension_decided": "已审批。",
           "returned": "已退回。", "rated": "评价已记录。", "urged": "已提交。", "accepted": "已签收，已告知12345平台。",
           "return_requested": "退回申请已提交12345平台，待平台答复。", "published": "公开内容已保存。"}


class BadQuery(Exception):
    pass


def _choice(request: web.Request, name: str, choices) -> str | None:
    value = request.query.get(name) or None
    if value is not None and value not in choices:
        raise BadQuery(f"参数 {name} 的值无效")
    return value


def _int(value, name: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise BadQuery(f"参数 {name} 必须是整数") from None
    if number < 0:
        raise BadQuery(f"参数 {name} 不能为负数")
    if not fits_int64(number):
        raise BadQuery(f"参数 {name} 的值无效")
    return number


@login_required
async def inbox_list(request: web.Request) -> web.Response:
    try:
        view = request.query.get("view") or "open"
        if view not in VIEWS:
            raise BadQuery("没有这个视图")
        channel = _choice(request, "channel", CHANNELS)
        kind = _choice(request, "kind", KINDS)
        topic = _choice(request, "topic", TOPICS)
        status = _choice(request, "status", STATUSES)
        sort = _choice(request, "sort", SORTS) or "newest"
        before = _int(request.query.get("before"), "before")
        page_no = _int(request.query.get("page"), "page") or 0
        q = (request.query.get("q") or "").strip()[:100]
    except BadQuery as exc:
        return render(request, "error.html", status=400, message=str(exc))
    if view in CLOSED_VIEWS:
        # Deadlines matter while a case is open; ordering a million closed
        # cases by deadline would be a full sort for nothing.
        sort = "newest"
    selection = CaseFilter(channel=channel, kind=kind, topic=topic, statuses=(status,) if status else ())
    page = await cases.inbox(request.app[RUNTIME], request[ACTOR], view=view, selection=selection, search=q or None,
                             sort=sort, page=page_no, before_id=before)
    rows = [{"case": r.case, "assignee": r.assignee, "deadline": r.deadline, "marks": r.marks,
             "excerpt": mask_text(r.case.title or r.case.text or "")[:80]} for r in page.rows]
    params = {k: v for k, v in {"view": view, "channel": channel, "kind": kind, "topic": topic, "status": status,
                                "q": q, "sort": sort}.items() if v}
    next_link = None
    if page.more:
        next_link = {**params, "page": page_no + 1} if sort == "urgent" else {**params, "before": page.rows[-1].case.id}
    return render(request, "inbox.html", rows=rows, view=view, views=VIEWS, counts=page.counts, params=params,
                  channel=channel, kind=kind, topic=topic, status_filter=status, sort=sort, sorts=SORTS, q=q,
                  next_link=next_link, first_page=not before and not page_no, calendar_error=page.calendar_error,
                  deadline_errors=page.deadline_errors, count_cap=COUNT_CAP, CHANNELS=CHANNELS, KINDS=KINDS,
                  TOPICS=TOPICS, STATUSES=STATUSES)


async def _case_page(request: web.Request, case_id: int, *, status: int = 200, error: str | None = None,
                     draft: str = "", notice: str | None = None, form_values: dict | None = None,
                     tracking_code: str | None = None) -> web.Response:
    unmask = request.query.get("unmask") == "1"
    ws = await cases.workspace(request.app[RUNTIME], request[ACTOR], case_id, unmask=unmask)
    case, contact = ws.detail.case, ws.detail.contact
    phone = None
    if contact is not None and contact.phone:
        phone = contact.phone if unmask else mask_phone(contact.phone)
    return render(
        request, "case.html", status=status, case=case, contact=contact, phone=phone, unmask=unmask,
        messages=ws.detail.messages, notes=ws.notes, trail=ws.trail, users=ws.users, canned=ws.canned,
        classification_note=classification_note(case.classified_by, case.confidence, ws.reclassified_by),
        names=ws.names, merged_from=ws.merged_from, merged_into=ws.merged_into, window=ws.window,
        show=(lambda t: t or "") if unmask else (lambda t: mask_text(t or "")), deadline=ws.deadline, error=error,
        draft=draft, notice=notice, KINDS=KINDS, TOPICS=TOPICS, STATUSES=STATUSES, delivery_ways=DELIVERY_WAYS,
        outbound=case.channel in (Channel.WECHAT, Channel.HOTLINE), life=ws.life, statuses=ws.statuses,
        extension_limit=ws.extension_limit, extension_needs_approval=ws.extension_needs_approval,
        marks=case_marks(case), form_values=form_values or {}, publication=ws.publication,
        disclosure_missing=ws.disclosure_missing,
        order=case.channel == Channel.HOTLINE and case.external_id is not None, tracking_code=tracking_code,
    )


@login_required
async def case_view(request: web.Request) -> web.Response:
    return await _case_page(request, path_id(request), notice=NOTICES.get(request.query.get("done", "")))


def _version(form) -> int:
    try:
        version = int(form.get("version", ""))
    except (TypeError, ValueError):
        raise CaseError("表单缺少版本号，请刷新页面后重试", "version") from None
    if not fits_int64(version):
        raise CaseError("表单的版本号无效，请刷新页面后重试", "version")
    return version


async def _act(request: web.Request, action, *, done: str, draft_field: str | None = None) -> web.Response:
    """Run one staff action; a refusal re-shows the page with the reason
    (and what the staff member typed). An action may return another
    ``done`` notice than the usual one."""
    case_id = path_id(request)
    form = await request.post()
    try:
        done = await action(request.app[RUNTIME], request[ACTOR], case_id, form) or done
    except DomainError as exc:
        if status_of(exc) == 404 and exc.field is None:
            raise web.HTTPNotFound() from None
        suffix = "（您的修改未保存）" if status_of(exc) == 409 else ""
        return await _case_page(request, case_id, status=status_of(exc), error=exc.message + suffix,
                                draft=str(form.get(draft_field) or "") if draft_field else "",
                                form_values={k: str(v) for k, v in form.items() if k != "csrf_token"})
    return redirect(f"/inbox/cases/{case_id}?done={done}")


@login_required
async def case_update(request: web.Request) -> web.Response:
    async def action(rt, actor, case_id, form):
        fields = {name: str(form.get(name) or "") for name in ("kind", "topic", "status", "assignee") if name in form}
        if fields.get("assignee") == "":
            fields["assignee"] = None
        await cases.update(rt, actor, case_id, fields, expected_version=_version(form), as_form=True)

    return await _act(request, action, done="updated")


@login_required
async def case_reply(request: web.Request) -> web.Response:
    async def action(rt, actor, case_id, form):
        reply_type = str(form.get("type") or "")
        if not reply_type:  # an explicit choice: a final answer settles the case
            raise InvalidInput("请选择答复类型：正式答复（办结）、进展告知或请群众补充材料", "type", "missing")
        await cases.reply(rt, actor, case_id, str(form.get("text") or ""), reply_type=reply_type,
                          delivered_by=str(form.get("delivered_by") or ""), expected_version=_version(form),
                          require_delivery=True)

    return await _act(request, action, done="replied", draft_field="text")


def _positive_int(form, name: str, label: str) -> int:
    try:
        value = int(str(form.get(name) or "").strip())
    except ValueError:
        raise InvalidInput(f"{label}须为整数", name) from None
    if not fits_int64(value):
        raise InvalidInput(f"{label}超出范围", name)
    return value


@login_required
async def case_extension(request: web.Request) -> web.Response:
    async def action(rt, actor, case_id, form):
        result = await lifecycle.request_extension(
            rt, actor, case_id, _positive_int(form, "working_days", "延期工作日"), str(form.get("reason") or ""),
            expected_version=_version(form))
        return "extension_requested" if result.extension.status == "pending" else None

    return await _act(request, action, done="extended")


@login_required
async def case_extension_decision(request: web.Request) -> web.Response:
    async def action(rt, actor, case_id, form):
        approved = {"1": True, "0": False}.get(str(form.get("approved") or ""))
        if approved is None:
            raise InvalidInput("请选择批准或不批准", "approved")
        await lifecycle.decide_extension(rt, actor, case_id, approved, note=str(form.get("note") or ""))

    return await _act(request, action, done="extension_decided")


@login_required
async def case_return(request: web.Request) -> web.Response:
    async def action(rt, actor, case_id, form):
        case = await lifecycle.give_back(rt, actor, case_id, str(form.get("reason") or ""),
                                         str(form.get("basis") or ""), expected_version=_version(form))
        return "return_requested" if case.return_requested_at is not None else None

    return await _act(request, action, done="returned")


@login_required
async def case_rating(request: web.Request) -> web.Response:
    async def action(rt, actor, case_id, form):
        await lifecycle.rate(rt, actor, case_id, _positive_int(form, "score", "评价"), RatingSource.STAFF,
                             str(form.get("comment") or "") or None)

    return await _act(request, action, done="rated")


@login_required
async def case_accept(request: web.Request) -> web.Response:
    async def action(rt, actor, case_id, form):
        await lifecycle.accept(rt, actor, case_id)

    return await _act(request, action, done="accepted")


@login_required
async def case_tracking_code(request: web.Request) -> web.Response:
    """A new 查询码, shown on the page this once (never in an address or a
    log): the page is rendered in answer to the POST, not redirected to."""
    case_id = path_id(request)
    code = await tracking.issue_code(request.app[RUNTIME], request[ACTOR], case_id)
    return await _case_page(request, case_id, tracking_code=code)


@login_required
async def case_urge(request: web.Request) -> web.Response:
    async def action(rt, actor, case_id, form):
        await lifecycle.urge(rt, actor, case_id, str(form.get("level") or ""), str(form.get("note") or "") or None)

    return await _act(request, action, done="urged")


@login_required
async def case_note(request: web.Request) -> web.Response:
    async def action(rt, actor, case_id, form):
        await cases.add_note(rt, actor, case_id, str(form.get("text") or ""))

    return await _act(request, action, done="noted", draft_field="text")


@login_required
async def case_merge(request: web.Request) -> web.Response:
    async def action(rt, actor, case_id, form):
        await cases.merge(rt, actor, case_id, str(form.get("target") or ""), expected_version=_version(form))

    return await _act(request, action, done="merged")


@login_required
async def message_retry(request: web.Request) -> web.Response:
    async def action(rt, actor, case_id, form):
        await cases.resend(rt, actor, case_id, path_id(request, "message_id", "没有这条答复"))

    return await _act(request, action, done="retried")


@login_required
async def message_delivered(request: web.Request) -> web.Response:
    async def action(rt, actor, case_id, form):
        await cases.record_delivery(rt, actor, case_id, path_id(request, "message_id", "没有这条答复"),
                                    str(form.get("delivered_by") or ""))

    return await _act(request, action, done="delivered")


@login_required
async def case_publication(request: web.Request) -> web.Response:
    async def action(rt, actor, case_id, form):
        await letters.edit_publication(rt, actor, case_id, title=form.get("published_title"),
                                       letter=form.get("published_letter"), answer=form.get("published_answer"),
                                       withheld=form.get("withheld") == "1")

    return await _act(request, action, done="published")
