"""Staff pages for disclosure: the list of open requests with their legal
deadlines and warnings, one request's page with the workflow forms, and
the annual report page with a download per format. Built on the inbox's
login, CSRF and templates (handlers.inbox_web / inbox_auth); the work is
done by the same functions as the JSON API (handlers.disclosure)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from urllib.parse import quote

from aiohttp import web
from sqlalchemy import select

from bot import disclosure as dz
from bot.cases import APPLICANT_TYPES
from bot.report import REVIEW_KIND_LABELS, REVIEW_KINDS, REVIEW_RESULT_LABELS, REVIEW_RESULTS, ReportError, report_for, table3_rows
from bot.report_formats import CONTENT_TYPES, FORMATS, check_label, column_labels, filename, render as render_report
from bot.services import SERVICES
from storage.models import Case, DisclosureRequest

from .api import ApiError
from .disclosure import ACTIONS, _load, letter_for, letter_response, run_action, save_disclosure
from .inbox_auth import STAFF, login_required, redirect
from .inbox_web import NAV, TEMPLATE_DIRS, NavItem, render

APPLICANT_LABELS = {c["key"]: (c["group"] + "·" if c["group"] else "") + c["label"]
                    for c in dz.report_tables()["table3_columns"]["columns"] if c["key"] in APPLICANT_TYPES}
FORMAT_LABELS = {"xlsx": "Excel 表格（官方表样）", "docx": "Word 年度报告初稿", "csv": "CSV", "md": "Markdown", "json": "JSON"}


def _case_id(request: web.Request) -> int:
    try:
        return int(request.match_info["case_id"])
    except ValueError:
        raise web.HTTPNotFound() from None


@login_required
async def requests_list(request: web.Request) -> web.Response:
    """Open requests first, nearest deadline first, with their warnings."""
    services = request.app[SERVICES]
    calendar = await services.refresh_calendar()
    today = datetime.now(services.settings.tz).date()
    async with services.sessions() as session:
        rows = (await session.execute(
            select(DisclosureRequest, Case.number).join(Case, Case.id == DisclosureRequest.case_id)
            .order_by(DisclosureRequest.outcome.is_not(None), DisclosureRequest.answer_due.is_(None),
                      DisclosureRequest.answer_due, DisclosureRequest.id.desc()).limit(500)
        )).all()
        # Cases the classifier or staff marked as disclosure requests that
        # nobody has registered yet: the legal clock may already be running.
        unregistered = (await session.execute(
            select(Case.id, Case.number, Case.received_at, Case.channel)
            .outerjoin(DisclosureRequest, DisclosureRequest.case_id == Case.id)
            .where(Case.kind == "disclosure_request", DisclosureRequest.id.is_(None), Case.merged_into_id.is_(None))
            .order_by(Case.received_at).limit(200)
        )).all()
    items = [{"req": r, "number": number, "warnings": dz.warnings(r, today, calendar)} for r, number in rows]
    return render(request, "disclosure_list.html", items=items, unregistered=unregistered, stage_labels=dz.STAGE_LABELS,
                  outcome_labels=dz.OUTCOME_LABELS, applicant_labels=APPLICANT_LABELS)


async def _page(request: web.Request, *, status: int = 200, error: str | None = None, form: dict | None = None):
    services = request.app[SERVICES]
    calendar = await services.refresh_calendar()
    today = datetime.now(services.settings.tz).date()
    async with services.sessions() as session:
        try:
            case, req = await _load(session, _case_id(request), required=False)
        except ApiError:
            raise web.HTTPNotFound() from None
    view = dz.to_view(req, services.settings.secret_key) if req else None
    return render(
        request, "disclosure_case.html", status=status, case=case, req=view,
        warnings=dz.warnings(req, today, calendar) if req else [], error=error,
        notice=request.query.get("notice"), form=form or {}, applicant_labels=APPLICANT_LABELS,
        outcome_labels=dz.OUTCOME_LABELS, outcomes=dz.OUTCOMES, bases=dz.RECEIPT_BASES, stages=dz.STAGE_LABELS,
    )


@login_required
async def case_page(request: web.Request) -> web.Response:
    return await _page(request)


FORM_FIELDS = ("applicant_type", "name", "id_proof", "contact", "description", "delivery_form", "receipt_date",
               "receipt_basis", "outcome", "decided_at")


@login_required
async def case_save(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    form = await request.post()
    # Empty fields are "not given" (a blank ID box keeps what is stored).
    data = {k: form[k].strip() for k in FORM_FIELDS if isinstance(form.get(k), str) and form[k].strip()}
    try:
        await save_disclosure(services, request[STAFF].actor, _case_id(request), data)
    except ApiError as exc:
        return await _page(request, status=exc.status, error=exc.message, form=dict(form))
    return redirect(f"/inbox/cases/{_case_id(request)}/disclosure?notice=" + quote("已保存"))


@login_required
async def case_action(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    name = request.match_info["action"].replace("-", "_")
    if name not in ACTIONS:
        raise web.HTTPNotFound()
    form = await request.post()
    data = {k: v.strip() for k, v in form.items() if isinstance(v, str) and k != "csrf_token" and v.strip()}
    for key in ("reply_days", "days"):
        if key in data:
            try:
                data[key] = int(data[key])
            except ValueError:
                return await _page(request, status=400, error=f"{key} 必须是整数", form=dict(form))
    try:
        await run_action(services, request[STAFF].actor, _case_id(request), name, data)
    except ApiError as exc:
        return await _page(request, status=exc.status, error=exc.message, form=dict(form))
    return redirect(f"/inbox/cases/{_case_id(request)}/disclosure?notice=" + quote("已办理"))


@login_required
async def case_letter(request: web.Request) -> web.Response:
    try:
        case, text = await letter_for(request.app[SERVICES], request[STAFF].actor, _case_id(request))
    except ApiError as exc:
        return await _page(request, status=exc.status, error=exc.message)
    return letter_response(case, text)


def _year_param(request: web.Request) -> int:
    raw = request.query.get("year") or request.match_info.get("year")
    if raw in (None, ""):
        return datetime.now(request.app[SERVICES].settings.tz).year - 1  # the report written each January
    try:
        return int(raw)
    except ValueError:
        raise ReportError(f"年份必须是整数：{raw!r}") from None


@login_required
async def reports_page(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    template = request.query.get("template") or None
    report, error, year = None, None, None
    try:
        year = _year_param(request)
        report = await report_for(services.engine, year, calendar=await services.refresh_calendar(), template=template)
    except ReportError as exc:
        error = str(exc)
    return render(
        request, "disclosure_reports.html", status=400 if error else 200, report=report, error=error, year=year,
        chosen_template=template or "", formats=FORMATS, format_labels=FORMAT_LABELS, columns=column_labels(),
        rows=table3_rows(report["template"]) if report else [], check_label=check_label,
        review_kinds=REVIEW_KINDS, review_kind_labels=REVIEW_KIND_LABELS, review_results=REVIEW_RESULTS + ("total",),
        review_result_labels=REVIEW_RESULT_LABELS,
    )


@login_required
async def report_download(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    fmt = request.match_info["fmt"]
    if fmt not in FORMATS:
        raise web.HTTPNotFound()
    try:
        report = await report_for(services.engine, _year_param(request), calendar=await services.refresh_calendar(),
                                  template=request.query.get("template") or None,
                                  office=services.settings.office_name or None)
    except ReportError as exc:
        return render(request, "error.html", status=400, message=str(exc))
    return web.Response(body=render_report(report, fmt), headers={
        "Content-Type": CONTENT_TYPES[fmt], "Content-Disposition": f'attachment; filename="{filename(report, fmt)}"'})


def setup(app: web.Application) -> None:
    folder = Path(__file__).with_name("disclosure_templates")
    if folder not in TEMPLATE_DIRS:
        TEMPLATE_DIRS.append(folder)
    for item in (NavItem("/inbox/disclosure", "依申请公开"), NavItem("/inbox/reports", "年度报表")):
        if item not in NAV:
            NAV.append(item)
    app.router.add_get("/inbox/disclosure", requests_list)
    app.router.add_get("/inbox/reports", reports_page)
    app.router.add_get(r"/inbox/reports/{year:\d{4}}.{fmt:[a-z]+}", report_download)
    app.router.add_get("/inbox/cases/{case_id}/disclosure", case_page)
    app.router.add_post("/inbox/cases/{case_id}/disclosure", case_save)
    app.router.add_get("/inbox/cases/{case_id}/disclosure/answer-letter.docx", case_letter)
    app.router.add_post("/inbox/cases/{case_id}/disclosure/{action}", case_action)
