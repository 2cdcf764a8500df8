"""The dashboard: this year's volumes by month, channel and kind as charts
(SVG, downloadable for the annual report), on-time rate, open and overdue."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone

from aiohttp import web
from sqlalchemy import case as sql_case
from sqlalchemy import func, select

from bot import charts
from bot.cases import CHANNEL_LABELS, CHANNELS
from bot.inbox import open_cases, view_condition
from bot.services import SERVICES
from nlp.base import KIND_LABELS, KINDS
from storage.models import Case

from .inbox_auth import login_required
from .inbox_web import render

MONTHS = [f"{m}月" for m in range(1, 13)]


@dataclass
class YearFigures:
    year: int
    total: int
    by_month: list[int]
    by_month_channel: dict[str, list[int]]
    by_channel: dict[str, int]
    by_kind: dict[str, int]
    answered: int
    on_time: int
    open: int
    overdue: int

    @property
    def on_time_rate(self) -> float | None:
        return self.on_time / self.answered if self.answered else None


async def year_figures(services, year: int, now: datetime) -> YearFigures:
    by_month_channel = {ch: [0] * 12 for ch in CHANNELS}
    by_kind: Counter = Counter()
    async with services.read_sessions() as session:
        rows = await session.execute(
            select(Case.received_date, Case.channel, Case.kind, func.count())
            .where(Case.received_year == year, Case.merged_into_id.is_(None))
            .group_by(Case.received_date, Case.channel, Case.kind)
        )
        for day, channel, kind, n in rows:
            by_month_channel.setdefault(channel, [0] * 12)[day.month - 1] += n
            by_kind[kind] += n
        answered, on_time = (await session.execute(
            select(func.count(), func.coalesce(func.sum(sql_case((Case.answered_at <= Case.deadline_at, 1), else_=0)), 0))
            .where(Case.received_year == year, Case.merged_into_id.is_(None), Case.answered_at.is_not(None),
                   Case.deadline_at.is_not(None))
        )).one()
        open_count = (await session.execute(select(func.count()).select_from(Case).where(
            open_cases()))).scalar_one()
        overdue = (await session.execute(select(func.count()).select_from(Case).where(
            view_condition("overdue", user_id=None, now=now, due_cutoff=None)))).scalar_one()
    by_month = [sum(v[m] for v in by_month_channel.values()) for m in range(12)]
    return YearFigures(
        year=year, total=sum(by_month), by_month=by_month, by_month_channel=by_month_channel,
        by_channel={ch: sum(v) for ch, v in by_month_channel.items()},
        by_kind={k: by_kind.get(k, 0) for k in KINDS}, answered=int(answered), on_time=int(on_time),
        open=int(open_count), overdue=int(overdue),
    )


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


def _year(request: web.Request, services) -> int:
    default = datetime.now(timezone.utc).astimezone(services.settings.tz).year
    raw = request.query.get("year") or ""
    if not raw:
        return default
    if not raw.isdigit() or not 1990 <= int(raw) <= 2100:
        raise web.HTTPBadRequest(text="年份无效")
    return int(raw)


@login_required
async def dashboard(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    year = _year(request, services)
    figures = await year_figures(services, year, datetime.now(timezone.utc))
    svgs = {name: chart_svg(name, figures) for name in CHARTS}
    return render(request, "dashboard.html", f=figures, svgs=svgs, charts=CHARTS, year=year,
                  CHANNELS=CHANNELS, KINDS=KINDS)


@login_required
async def chart_download(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    name = request.match_info["name"]
    if name not in CHARTS:
        raise web.HTTPNotFound()
    year = _year(request, services)
    figures = await year_figures(services, year, datetime.now(timezone.utc))
    svg = '<?xml version="1.0" encoding="UTF-8"?>\n' + chart_svg(name, figures)
    return web.Response(text=svg, content_type="image/svg+xml", charset="utf-8", headers={
        "Content-Disposition": f'attachment; filename="chart-{name}-{year}.svg"', "Cache-Control": "no-store"})


def setup(app: web.Application) -> None:
    app.router.add_get("/inbox/dashboard", dashboard)
    app.router.add_get("/inbox/dashboard/charts/{name}.svg", chart_download)
