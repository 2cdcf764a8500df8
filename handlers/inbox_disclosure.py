"""Staff pages for disclosure: the list of requests with their legal
deadlines and warnings, one request's page with the workflow forms, and
the annual report page with a download per format. The work is done by
the same services as the JSON API."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote

from aiohttp import web

from bot.domain import disclosure as dz
from bot.domain.errors import DomainError
from bot.domain.report import (
    REVIEW_KIND_LABELS, REVIEW_KINDS, REVIEW_RESULT_LABELS, REVIEW_RESULTS, ReportError, check_label, table3_rows,
)
from bot.domain.vocabulary import APPLICANT_TYPE_LABELS
from bot.exports.answer_letter import letter_docx
from bot.exports.report_formats import CONTENT_TYPES, FORMATS, column_labels, filename
from bot.exports.report_formats import render as render_report
from bot.services import disclosure, reports

from .common.errors import status_of
from .common.guards import login_required
from .common.keys import ACTOR, RUNTIME
from .common.params import path_id
from .common.render import render
from .common.staff import redirect

APPLICANT_LABELS = APPLICANT_TYPE_LABELS
FORMAT_LABELS = {"xlsx": "Excel 表格（官方表样）", "docx": "Word 年度报告初稿", "csv": "CSV", "md": "Markdown", "json": "JSON"}
FORM_FIELDS = ("applicant_type", "name", "id_proof", "contact", "description", "delivery_form", "receipt_date",
               "receipt_basis", "outcome", "decided_at")


@login_required
async def requests_list(request: web.Request) -> web.Response:
    """Open requests first, nearest deadline first, with their warnings."""
    overview = await disclosure.open_requests(request.app[RUNTIME])
    items = [{"req": r.request, "number": r.number, "warnings": r.warnings, "missing": r.missing} for r in overview.rows]
    return render(request, "disclosure_list.html", items=items, unregistered=overview.unregistered,
                  second_requests=overview.second_requests, stage_labels=dz.STAGE_LABELS,
                  outcome_labels=dz.OUTCOME_LABELS, applicant_labels=APPLICANT_LABELS)


async def _page(request: web.Request, *, status: int = 200, error: str | None = None, form: dict | None = None):
    view = await disclosure.get(request.app[RUNTIME], request[ACTOR], path_id(request), required=False)
    return render(
        request, "disclosure_case.html", status=status, case=view.case, req=view.request, warnings=view.warnings,
        error=error, notice=request.query.get("notice"), form=form or {}, applicant_labels=APPLICANT_LABELS,
        outcome_labels=dz.OUTCOME_LABELS, outcomes=dz.OUTCOMES, bases=dz.RECEIPT_BASES, stages=dz.STAGE_LABELS,
    )


@login_required
async def case_page(request: web.Request) -> web.Response:
    return await _page(request)


@login_required
async def case_save(request: web.Request) -> web.Response:
    form = await request.post()
    # Empty fields are "not given" (a blank ID box keeps what is stored).
    data = {k: form[k].strip() for k in FORM_FIELDS if isinstance(form.get(k), str) and form[k].strip()}
    try:
        await disclosure.save(request.app[RUNTIME], request[ACTOR], path_id(request), data)
    except DomainError as exc:
        return await _page(request, status=status_of(exc), error=exc.message, form=dict(form))
    return redirect(f"/inbox/cases/{path_id(request)}/disclosure?notice=" + quote("已保存"))


@login_required
async def case_action(request: web.Request) -> web.Response:
    step = request.match_info["action"].replace("-", "_")
    if step not in disclosure.STEPS:
        raise web.HTTPNotFound()
    form = await request.post()
    data = {k: v.strip() for k, v in form.items() if isinstance(v, str) and k != "csrf_token" and v.strip()}
    try:
        await disclosure.take_step(request.app[RUNTIME], request[ACTOR], path_id(request), step, data)
    except DomainError as exc:
        return await _page(request, status=status_of(exc), error=exc.message, form=dict(form))
    return redirect(f"/inbox/cases/{path_id(request)}/disclosure?notice=" + quote("已办理"))


@login_required
async def case_letter(request: web.Request) -> web.Response:
    try:
        case, text = await disclosure.answer_letter(request.app[RUNTIME], request[ACTOR], path_id(request))
    except DomainError as exc:
        return await _page(request, status=status_of(exc), error=exc.message)
    return web.Response(body=letter_docx(text), content_type=CONTENT_TYPES["docx"],
                        headers={"Content-Disposition": f'attachment; filename="answer-letter-{case.number}.docx"'})


def _year_param(request: web.Request) -> int:
    raw = request.query.get("year") or request.match_info.get("year")
    if raw in (None, ""):
        return datetime.now(request.app[RUNTIME].settings.tz).year - 1  # the report written each January
    try:
        return int(raw)
    except ValueError:
        raise ReportError(f"年份必须是整数：{raw!r}") from None


@login_required
async def reports_page(request: web.Request) -> web.Response:
    template = request.query.get("template") or None
    report, error, year = None, None, None
    try:
        year = _year_param(request)
        report = await reports.annual(request.app[RUNTIME], year, template=template)
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
    rt = request.app[RUNTIME]
    fmt = request.match_info["fmt"]
    if fmt not in FORMATS:
        raise web.HTTPNotFound()
    try:
        report = await reports.annual(rt, _year_param(request), template=request.query.get("template") or None,
                                      office=rt.settings.office_name or None)
    except ReportError as exc:
        return render(request, "error.html", status=400, message=str(exc))
    today = datetime.now(rt.settings.tz).date()
    return web.Response(body=render_report(report, fmt, today=today), headers={
        "Content-Type": CONTENT_TYPES[fmt], "Content-Disposition": f'attachment; filename="{filename(report, fmt)}"'})
