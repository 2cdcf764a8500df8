"""The dashboard: this year's volumes by month, channel and kind as charts
(SVG, downloadable for the annual report), on-time rate, open and overdue;
this month's 通报 table by assignee and each assignee's cases due soon or overdue."""

from __future__ import annotations

from datetime import datetime, timezone

from aiohttp import web

from bot.domain.vocabulary import CHANNEL_LABELS, CHANNELS, KIND_LABELS, KINDS
from bot.exports import charts
from bot.domain.stats import FIELD_LABELS, FIELDS
from bot.services.dashboard import YearFigures, month_figures, year_figures

from .common.guards import login_required
from .common.keys import RUNTIME
from .common.render import render

MONTHS = [f"{m}月" for m in range(1, 13)]


def chart_svg(name: str, f: YearFigures) -> str:
    if name == "months":
        series = [(CHANNEL_LABELS[ch], f.by_month_channel[ch]) for ch in CHANNELS if any(f.by_month_channel[ch])]
        return charts.stacked_bar_chart(f"{f.year}年各月受理量（按渠道）", MONTHS, series or [("受理量", f.by_month)])
    if name == "channels":
        chans = [ch for ch in CHANNELS if f.by_channel.get(ch)] or list(CHANNELS[:4])
        return charts.bar_chart(f"{f.year}年各渠道受理量", [CHANNEL_LABELS[c] for c in chans],
                                [f.by_channel.get(c, 0) for c in chans])
    if name == "kinds":
        kinds = [k for k in KINDS if f.by_kind.get(k)] or list(KINDS)
        return charts.bar_chart(f"{f.year}年各类诉求受理量", [KIND_LABELS[k] for k in kinds],
                                [f.by_kind.get(k, 0) for k in kinds])
    raise KeyError(name)


CHARTS = {"months": "各月受理量", "channels": "各渠道受理量", "kinds": "各类诉求受理量"}


def _year(request: web.Request) -> int:
    default = datetime.now(timezone.utc).astimezone(request.app[RUNTIME].settings.tz).year
    raw = request.query.get("year") or ""
    if not raw:
        return default
    if not raw.isdigit() or not 1990 <= int(raw) <= 2100:
        raise web.HTTPBadRequest(text="年份无效")
    return int(raw)


@login_required
async def dashboard(request: web.Request) -> web.Response:
    year = _year(request)
    figures = await year_figures(request.app[RUNTIME], year)
    month = await month_figures(request.app[RUNTIME])
    svgs = {name: chart_svg(name, figures) for name in CHARTS}
    return render(request, "dashboard.html", f=figures, svgs=svgs, charts=CHARTS, year=year,
                  CHANNELS=CHANNELS, KINDS=KINDS, month=month, STATS_FIELDS=FIELDS, STATS_LABELS=FIELD_LABELS)


@login_required
async def chart_download(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in CHARTS:
        raise web.HTTPNotFound()
    year = _year(request)
    figures = await year_figures(request.app[RUNTIME], year)
    svg = '<?xml version="1.0" encoding="UTF-8"?>\n' + chart_svg(name, figures)
    return web.Response(text=svg, content_type="image/svg+xml", charset="utf-8", headers={
        "Content-Disposition": f'attachment; filename="chart-{name}-{year}.svg"', "Cache-Control": "no-store"})

