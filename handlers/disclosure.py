"""Disclosure requests, reviews and the annual report over the JSON API.
Thin: parse, call bot.disclosure / bot.report, keep the case in step,
serialise. Each request is one transaction: a refusal changes nothing."""

from __future__ import annotations

from datetime import date, datetime, time, timezone
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy import select

from bot import disclosure as dz
from bot.answer_letter import letter_docx, letter_text
from bot.casework import Actor
from bot.report import REVIEW_KINDS, REVIEW_RESULTS, ReportError, report_for
from bot.report_formats import CONTENT_TYPES, FORMATS, filename, render
from bot.services import SERVICES, Services
from storage.models import AuditEntry, Case, Correction, DisclosureRequest, DisclosureReview

from .api import ACTOR, ApiError, json_ok, read_json

STRING_FIELDS = {"name": 200, "id_proof": 64, "contact": 200, "description": 5000, "delivery_form": 64}
PUT_FIELDS = set(STRING_FIELDS) | {"applicant_type", "receipt_date", "receipt_basis", "outcome", "decided_at", "version"}


def office_name(settings) -> str:
    return settings.office_name or "（机关名称）"


def parse_day(value, field: str, tz: ZoneInfo) -> date:
    """A date (2020-03-15) or an ISO time, taken as the office-local day."""
    if isinstance(value, str) and value.strip():
        raw = value.strip()
        try:
            if len(raw) == 10:
                return date.fromisoformat(raw)
            moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise ApiError(400, "invalid", f"{field} 不是有效的日期：{value!r}", field) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=tz)
        return moment.astimezone(tz).date()
    raise ApiError(400, "invalid", f"{field} 必须是日期，例如 2020-03-15", field)


def _day_or_today(data: dict, field: str, tz: ZoneInfo) -> date:
    if data.get(field) in (None, ""):
        return datetime.now(tz).date()
    return parse_day(data[field], field, tz)


def _strings(data: dict) -> dict:
    out = {}
    for name, max_len in STRING_FIELDS.items():
        if name in data:
            value = data[name]
            if value is not None and not isinstance(value, str):
                raise ApiError(400, "invalid", f"{name} 必须是字符串", name)
            value = (value or "").strip() or None
            if value and len(value) > max_len:
                raise ApiError(400, "invalid", f"{name} 过长（最多 {max_len} 字）", name)
            out[name] = value
    return out


def _case_id(request: web.Request) -> int:
    try:
        return int(request.match_info["case_id"])
    except ValueError:
        raise ApiError(404, "not_found", "没有这个案件") from None


async def _load(session, case_id: int, *, required: bool = True) -> tuple[Case, DisclosureRequest | None]:
    case = await session.get(Case, case_id)
    if case is None:
        raise ApiError(404, "not_found", "没有这个案件")
    req = (await session.execute(
        select(DisclosureRequest).where(DisclosureRequest.case_id == case.id)
    )).scalar_one_or_none()
    if req is None and required:
        raise ApiError(404, "not_found", "该案件尚未登记为政府信息公开申请（请先 PUT …/disclosure）")
    return case, req


def _domain(call):
    try:
        return call()
    except dz.DisclosureError as exc:
        raise ApiError(400, exc.code, str(exc), exc.field) from None


def sync_case(case: Case, req: DisclosureRequest, tz: ZoneInfo, now: datetime) -> None:
    """The case mirrors the legal file: its deadline is the answer deadline,
    it waits while a correction is outstanding, it is answered on the
    decision day and closed when archived."""
    case.deadline_at = dz.end_of_day(req.answer_due, tz) if req.answer_due else None
    case.deadline_days = dz.ANSWER_DAYS + req.extension_days if req.answer_due else None
    case.deadline_error = None
    if req.outcome is not None and req.decided_on is not None:
        case.answered_at = datetime.combine(req.decided_on, time(12, 0), tz).astimezone(timezone.utc)
        case.status = "closed" if req.stage == "archived" else "answered"
        if req.stage == "archived":
            case.closed_at = case.closed_at or now
    elif req.correction_sent_on and not req.corrected_on:
        case.status = "waiting"
    elif case.status in ("new", "waiting"):
        case.status = "in_progress"
    case.version += 1
    case.updated_at = now
    req.version += 1
    req.updated_at = now


async def _respond(services: Services, session, case: Case, req: DisclosureRequest, status: int = 200,
                   *, unmask: bool = False) -> web.Response:
    tz = services.settings.tz
    body = dz.to_view(req, services.settings.secret_key, unmask=unmask)
    body["case_id"] = case.id
    body["number"] = case.number
    body["case_status"] = case.status
    body["warnings"] = [w.as_dict() for w in dz.warnings(req, datetime.now(tz).date(), services.calendar)]
    return json_ok(body, status)


async def _audit(session, actor: Actor, action: str, case: Case, **detail) -> None:
    session.add(AuditEntry(actor=actor.label, action=action, case_id=case.id, detail=detail))


async def save_disclosure(services: Services, actor: Actor, case_id: int, data: dict) -> tuple[Case, DisclosureRequest, bool]:
    """Register a case as a disclosure request, or update it; record a decision."""
    settings, tz = services.settings, services.settings.tz
    calendar = await services.refresh_calendar()
    unknown = set(data) - PUT_FIELDS
    if unknown:
        name = sorted(unknown)[0]
        raise ApiError(400, "invalid", f"不认识的字段 {name}", name)
    strings = _strings(data)
    receipt_date = parse_day(data["receipt_date"], "receipt_date", tz) if data.get("receipt_date") else None
    if ("outcome" in data) != ("decided_at" in data) and not (data.get("outcome") is None and data.get("decided_at") is None):
        field = "decided_at" if "outcome" in data else "outcome"
        raise ApiError(400, "missing", "outcome 与 decided_at 须同时提供", field)
    outcome = data.get("outcome")
    if outcome is not None:
        _domain(lambda: dz.validate_outcome(outcome))
    decided_on = parse_day(data["decided_at"], "decided_at", tz) if data.get("decided_at") else None
    now = datetime.now(timezone.utc)
    async with services.sessions() as session:
        case, req = await _load(session, case_id, required=False)
        if "version" in data and req is not None and data["version"] != req.version:
            raise ApiError(409, "conflict", "该申请已被他人修改，请刷新后重试", "version")
        created = req is None
        if created:
            if "applicant_type" not in data:
                raise ApiError(400, "missing", "登记政府信息公开申请须提供 applicant_type", "applicant_type")
            applicant = dz.Applicant(
                applicant_type=data["applicant_type"], name=strings.get("name"), id_proof=strings.get("id_proof"),
                contact=strings.get("contact"), description=strings.get("description") or case.text,
                delivery_form=strings.get("delivery_form"),
            )
            req = _domain(lambda: dz.register(
                case_id=case.id, channel=case.channel, applicant=applicant,
                receipt_date=receipt_date or case.received_date, receipt_basis=data.get("receipt_basis"),
                calendar=calendar, secret_key=settings.secret_key,
            ))
            session.add(req)
        else:
            changes = dict(strings)
            for name in ("applicant_type", "receipt_basis"):
                if name in data:
                    changes[name] = data[name]
            if receipt_date:
                changes["receipt_date"] = receipt_date
            _domain(lambda: dz.update_details(req, changes, calendar=calendar, secret_key=settings.secret_key))
        if outcome is not None:
            _domain(lambda: dz.decide(req, outcome=outcome, decided_on=decided_on, today=now.astimezone(tz).date()))
        if case.kind != "disclosure_request":
            session.add(Correction(case_id=case.id, text=case.text, kind="disclosure_request", topic=case.topic,
                                   previous_kind=case.kind, previous_topic=case.topic, user_id=actor.user_id))
            case.kind, case.classified_by, case.needs_review = "disclosure_request", "staff", False
        sync_case(case, req, tz, now)
        await _audit(session, actor, "disclosure.registered" if created else "disclosure.updated", case,
                     fields=sorted(k for k in data if k not in ("id_proof", "contact")),
                     outcome=req.outcome, decided_at=req.decided_on.isoformat() if req.decided_on else None)
        await session.commit()
        return case, req, created


async def put_disclosure(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    data = await read_json(request)
    case, req, created = await save_disclosure(services, request[ACTOR], _case_id(request), data)
    return await _respond(services, None, case, req, 201 if created else 200)




async def get_disclosure(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    await services.refresh_calendar()
    unmask = request.query.get("unmask") in ("1", "true")
    async with services.sessions() as session:
        case, req = await _load(session, _case_id(request))
        if unmask:
            # Seeing the full ID number and contact is a recorded act.
            await _audit(session, request[ACTOR], "disclosure.unmasked", case)
            await session.commit()
        return await _respond(services, session, case, req, unmask=unmask)


def _action(name: str, apply):
    """A workflow step: load, apply the domain function, sync, audit, commit."""

    async def handler(request: web.Request) -> web.Response:
        services = request.app[SERVICES]
        data = await read_json(request) if request.can_read_body else {}
        case, req = await run_action(services, request[ACTOR], _case_id(request), name, data)
        return await _respond(services, None, case, req)

    return handler


async def run_action(services: Services, actor: Actor, case_id: int, name: str, data: dict) -> tuple[Case, DisclosureRequest]:
    """One workflow step in one transaction: load, apply, sync the case, audit, commit."""
    tz = services.settings.tz
    calendar = await services.refresh_calendar()
    apply = ACTIONS[name]  # defined below the step functions
    async with services.sessions() as session:
        case, req = await _load(session, case_id)
        detail = _domain(lambda: apply(req, data, tz, calendar))
        sync_case(case, req, tz, datetime.now(timezone.utc))
        await _audit(session, actor, f"disclosure.{name}", case, **(detail or {}))
        await session.commit()
        return case, req


def _correction(req, data, tz, cal):
    sent_on = _day_or_today(data, "sent_on", tz)
    reply_days = data.get("reply_days", dz.DEFAULT_CORRECTION_REPLY_DAYS)
    if not isinstance(reply_days, int):
        raise ApiError(400, "invalid", "reply_days 必须是整数", "reply_days")
    dz.send_correction_notice(req, sent_on=sent_on, text=data.get("text") or "", calendar=cal, reply_days=reply_days)
    return {"sent_on": sent_on.isoformat(), "reply_due": req.correction_reply_due.isoformat()}


def _corrected(req, data, tz, cal):
    day = _day_or_today(data, "received_on", tz)
    dz.record_corrected(req, received_on=day, calendar=cal)
    return {"received_on": day.isoformat(), "answer_due": req.answer_due.isoformat()}


def _abandoned(req, data, tz, cal):
    today = _day_or_today(data, "today", tz)
    dz.close_abandoned(req, today=today)
    return {"outcome": req.outcome}


def _third_party(req, data, tz, cal):
    day = _day_or_today(data, "sent_on", tz)
    dz.start_third_party(req, sent_on=day, calendar=cal)
    return {"sent_on": day.isoformat()}


def _third_party_answer(req, data, tz, cal):
    day = _day_or_today(data, "answered_on", tz)
    dz.third_party_answered(req, answered_on=day, calendar=cal)
    return {"answered_on": day.isoformat()}


def _extension(req, data, tz, cal):
    day = _day_or_today(data, "notice_on", tz)
    days = data.get("days", dz.MAX_EXTENSION_DAYS)
    if not isinstance(days, int):
        raise ApiError(400, "invalid", "days 必须是整数", "days")
    approved_by = data.get("approved_by")
    if approved_by is not None and not isinstance(approved_by, str):
        raise ApiError(400, "invalid", "approved_by 必须是字符串", "approved_by")
    dz.extend(req, approved_by=approved_by or "", notice_on=day, calendar=cal, days=days)
    return {"days": days, "approved_by": req.extension_approved_by, "notice_on": day.isoformat()}


def _stage(req, data, tz, cal):
    dz.set_stage(req, data.get("stage"), today=datetime.now(tz).date())
    return {"stage": req.stage}


# Workflow steps by name (the API's paths use dashes, these underscores).
ACTIONS = {
    "correction_notice": _correction, "corrected": _corrected, "abandoned": _abandoned,
    "third_party": _third_party, "third_party_answer": _third_party_answer, "extension": _extension,
    "stage": _stage,
}


async def letter_for(services: Services, actor: Actor, case_id: int) -> tuple[Case, str]:
    """The 答复书 text for a decided request (audited: it names the applicant)."""
    settings = services.settings
    async with services.sessions() as session:
        case, req = await _load(session, case_id)
        text = _domain(lambda: letter_text(case, req, office=office_name(settings), var_dir=settings.var_dir))
        await _audit(session, actor, "disclosure.answer_letter", case, outcome=req.outcome)
        await session.commit()
    return case, text


def letter_response(case: Case, text: str, fmt: str | None = None) -> web.Response:
    if fmt == "txt":
        return web.Response(text=text, content_type="text/plain", charset="utf-8")
    return web.Response(
        body=letter_docx(text), content_type=CONTENT_TYPES["docx"],
        headers={"Content-Disposition": f'attachment; filename="answer-letter-{case.number}.docx"'},
    )


async def answer_letter(request: web.Request) -> web.Response:
    case, text = await letter_for(request.app[SERVICES], request[ACTOR], _case_id(request))
    return letter_response(case, text, request.query.get("format"))


# ---- reviews (table 四) -------------------------------------------------------


def review_json(r: DisclosureReview) -> dict:
    return {"id": r.id, "case_id": r.case_id, "kind": r.kind, "filed_on": r.filed_on.isoformat(),
            "result": r.result, "concluded_on": r.concluded_on.isoformat() if r.concluded_on else None,
            "note": r.note}


def _review_kind(data: dict) -> str:
    kind = data.get("kind")
    if kind == "litigation":
        after = data.get("after_reconsideration", False)
        if not isinstance(after, bool):
            raise ApiError(400, "invalid", "after_reconsideration 必须是 true 或 false", "after_reconsideration")
        kind = "litigation_after" if after else "litigation_direct"
    if kind not in REVIEW_KINDS:
        raise ApiError(400, "invalid", "kind 必须是 reconsideration（行政复议）、litigation_direct（未经复议直接起诉）"
                       "或 litigation_after（复议后起诉）", "kind")
    return kind


def _review_result(data: dict, tz: ZoneInfo, filed_on: date) -> tuple[str, date | None]:
    result = data.get("result", "pending")
    if result not in REVIEW_RESULTS:
        raise ApiError(400, "invalid", f"result 必须是 {', '.join(REVIEW_RESULTS)} 之一", "result")
    concluded = parse_day(data["concluded_on"], "concluded_on", tz) if data.get("concluded_on") else None
    if result != "pending" and concluded is None:
        raise ApiError(400, "missing", "已审结的案件须提供 concluded_on", "concluded_on")
    if result == "pending" and concluded is not None:
        raise ApiError(400, "invalid", "尚未审结的案件不能有 concluded_on", "concluded_on")
    if concluded and concluded < filed_on:
        raise ApiError(400, "invalid", "审结日期不能早于提起日期", "concluded_on")
    return result, concluded


async def post_review(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    tz = services.settings.tz
    data = await read_json(request)
    case_id = data.get("case_id")
    if not isinstance(case_id, int):
        raise ApiError(400, "missing", "case_id 必须是政府信息公开申请案件的 id", "case_id")
    kind = _review_kind(data)
    filed_on = parse_day(data.get("filed_on"), "filed_on", tz)
    result, concluded = _review_result(data, tz, filed_on)
    note = data.get("note")
    if note is not None and not isinstance(note, str):
        raise ApiError(400, "invalid", "note 必须是字符串", "note")
    async with services.sessions() as session:
        req = (await session.execute(
            select(DisclosureRequest).where(DisclosureRequest.case_id == case_id)
        )).scalar_one_or_none()
        if req is None:
            raise ApiError(400, "invalid", "该案件不是已登记的政府信息公开申请", "case_id")
        if filed_on < req.receipt_date:
            raise ApiError(400, "invalid", "提起日期不能早于收到申请日期", "filed_on")
        review = DisclosureReview(case_id=case_id, kind=kind, filed_on=filed_on, filed_year=filed_on.year,
                                  result=result, concluded_on=concluded, note=note)
        session.add(review)
        await session.flush()
        session.add(AuditEntry(actor=request[ACTOR].label, action="disclosure.review_added", case_id=case_id,
                               detail={"review_id": review.id, "kind": kind, "result": result}))
        await session.commit()
        return json_ok(review_json(review), 201)


async def patch_review(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    data = await read_json(request)
    async with services.sessions() as session:
        try:
            review = await session.get(DisclosureReview, int(request.match_info["review_id"]))
        except ValueError:
            review = None
        if review is None:
            raise ApiError(404, "not_found", "没有这个复议或诉讼记录")
        review.result, review.concluded_on = _review_result(data, services.settings.tz, review.filed_on)
        session.add(AuditEntry(actor=request[ACTOR].label, action="disclosure.review_updated", case_id=review.case_id,
                               detail={"review_id": review.id, "result": review.result}))
        await session.commit()
        return json_ok(review_json(review))


async def list_reviews(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    stmt = select(DisclosureReview).order_by(DisclosureReview.id)
    if request.query.get("year"):
        try:
            stmt = stmt.where(DisclosureReview.filed_year == int(request.query["year"]))
        except ValueError:
            raise ApiError(400, "invalid", "year 必须是整数", "year") from None
    async with services.sessions() as session:
        items = [review_json(r) for r in (await session.execute(stmt)).scalars()]
    return json_ok({"items": items, "total": len(items)})


# ---- the annual report ----------------------------------------------------------


async def get_report(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    try:
        year = int(request.match_info["year"])
    except ValueError:
        raise ApiError(400, "invalid", "年份必须是整数", "year") from None
    fmt = request.query.get("format", "json")
    if fmt not in FORMATS:
        raise ApiError(400, "invalid", f"format 必须是 {', '.join(FORMATS)} 之一", "format")
    template = request.query.get("template") or None
    calendar = await services.refresh_calendar()
    try:
        report = await report_for(services.engine, year, calendar=calendar, template=template,
                                  office=office_name(services.settings) if fmt == "docx" else None)
    except ReportError as exc:
        raise ApiError(400, "invalid", str(exc), exc.field) from None
    if fmt == "json":
        return json_ok(report)
    headers = {} if fmt in ("csv", "md") and request.query.get("download") != "1" else {
        "Content-Disposition": f'attachment; filename="{filename(report, fmt)}"'}
    return web.Response(body=render(report, fmt), headers={"Content-Type": CONTENT_TYPES[fmt], **headers})


def setup(app: web.Application, services: Services | None = None) -> None:
    from . import disclosure_pages, wechat_disclosure

    wechat_disclosure.setup(app)  # the WeChat dialog, ahead of the other WeChat handlers
    disclosure_pages.setup(app)  # staff pages under /inbox (login, CSRF and templates of the inbox)
    base = "/api/v1/cases/{case_id}/disclosure"
    app.router.add_put(base, put_disclosure)
    app.router.add_get(base, get_disclosure)
    app.router.add_post(base + "/correction-notice", _action("correction_notice", _correction))
    app.router.add_post(base + "/corrected", _action("corrected", _corrected))
    app.router.add_post(base + "/abandoned", _action("abandoned", _abandoned))
    app.router.add_post(base + "/third-party", _action("third_party", _third_party))
    app.router.add_post(base + "/third-party-answer", _action("third_party_answer", _third_party_answer))
    app.router.add_post(base + "/extension", _action("extension", _extension))
    app.router.add_post(base + "/stage", _action("stage", _stage))
    app.router.add_get(base + "/answer-letter.docx", answer_letter)
    app.router.add_post("/api/v1/reviews", post_review)
    app.router.add_get("/api/v1/reviews", list_reviews)
    app.router.add_patch("/api/v1/reviews/{review_id}", patch_review)
    app.router.add_get("/api/v1/reports/{year}", get_report)
