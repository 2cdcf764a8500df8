"""通报 statistics over the JSON API: GET /api/v1/stats?from=YYYY-MM-DD&to=YYYY-MM-DD
&by=assignee|kind|channel|topic (&format=json|csv|xlsx)."""

from __future__ import annotations

from aiohttp import web

from bot.domain.errors import InvalidInput
from bot.exports.stats_formats import CONTENT_TYPES, FORMATS, filename, render
from bot.services import stats

from .common.json_api import json_ok
from .common.keys import RUNTIME


async def get_stats(request: web.Request) -> web.Response:
    fmt = request.query.get("format") or "json"
    if fmt not in FORMATS:
        raise InvalidInput(f"format 必须是 {'、'.join(FORMATS)} 之一", "format")
    q = request.query
    table = await stats.table(request.app[RUNTIME], q.get("from"), q.get("to"), q.get("by"))
    if fmt == "json":
        return json_ok(table)
    return web.Response(body=render(table, fmt), headers={
        "Content-Type": CONTENT_TYPES[fmt], "Content-Disposition": f'attachment; filename="{filename(table, fmt)}"'})
