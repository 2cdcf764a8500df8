"""The annual tally over the JSON API: GET /api/v1/reports/{year}
(?format=json|csv|md|xlsx|docx&template=2019|2021)."""

from __future__ import annotations

from datetime import datetime

from aiohttp import web

from bot.domain.errors import InvalidInput
from bot.exports.report_formats import CONTENT_TYPES, FORMATS, filename, render
from bot.services import reports
from bot.services.disclosure import office_name

from .common.json_api import json_ok
from .common.keys import RUNTIME


async def get_report(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    try:
        year = int(request.match_info["year"])
    except ValueError:
        raise InvalidInput("年份必须是整数", "year") from None
    fmt = request.query.get("format", "json")
    if fmt not in FORMATS:
        raise InvalidInput(f"format 必须是 {', '.join(FORMATS)} 之一", "format")
    report = await reports.annual(rt, year, template=request.query.get("template") or None,
                                  office=office_name(rt.settings) if fmt == "docx" else None)
    if fmt == "json":
        return json_ok(report)
    headers = {} if fmt in ("csv", "md") and request.query.get("download") != "1" else {
        "Content-Disposition": f'attachment; filename="{filename(report, fmt)}"'}
    today = datetime.now(rt.settings.tz).date()  # the office's date, on the DOCX draft
    return web.Response(body=render(report, fmt, today=today), headers={"Content-Type": CONTENT_TYPES[fmt], **headers})
