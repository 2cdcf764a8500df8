"""The dashboard's figures: a year's volumes by month, channel and kind,
the on-time rate, and today's open and overdue cases; this month's 通报
table and the cases due soon or overdue per assignee."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timezone

from bot.domain.inbox import view_filter
from bot.domain.stats import StatsQuery
from bot.domain.vocabulary import CHANNELS, KINDS
from storage.database import Tx
from storage.queries import cases as case_q
from storage.queries import reports as q

from . import stats
from .runtime import Runtime


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


async def year_figures(rt: Runtime, year: int) -> YearFigures:
    now = datetime.now(timezone.utc)
    open_cases, overdue = view_filter("open", user_id=None, now=now, due_cutoff=None), \
        view_filter("overdue", user_id=None, now=now, due_cutoff=None)

    def load(tx: Tx) -> YearFigures:
        s = tx.session
        by_month_channel = {ch: [0] * 12 for ch in CHANNELS}
        by_kind: Counter = Counter()
        for day, channel, kind, n in q.year_by_day(s, year):
            by_month_channel.setdefault(channel, [0] * 12)[day.month - 1] += n
            by_kind[kind] += n
        answered, on_time = q.answered_on_time(s, year)
        by_month = [sum(v[m] for v in by_month_channel.values()) for m in range(12)]
        return YearFigures(
            year=year, total=sum(by_month), by_month=by_month, by_month_channel=by_month_channel,
            by_channel={ch: sum(v) for ch, v in by_month_channel.items()},
            by_kind={k: by_kind.get(k, 0) for k in KINDS}, answered=answered, on_time=on_time,
            open=case_q.count(s, case_q.selecting(open_cases)), overdue=case_q.count(s, case_q.selecting(overdue)),
        )

    return await rt.db.read(load)


@dataclass
class MonthFigures:
    """This month's 通报 table by assignee, and what is due or overdue per assignee now."""

    start: date
    end: date
    table: dict
    digest: stats.Digest


async def month_figures(rt: Runtime) -> MonthFigures:
    today = datetime.now(timezone.utc).astimezone(rt.settings.tz).date()
    start, end = stats.month_range(today)
    table = await stats.build(rt.db, StatsQuery(start, end, "assignee"))
    return MonthFigures(start, end, table, await stats.due_digest(rt))
