"""The holiday calendar: an admin enters a year's holidays and make-up
working days (the State Council's notice) that chinesecalendar does not
know yet; cases whose deadline waited for that year get one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from bot.domain.actors import SYSTEM, Actor
from bot.domain.cases import compute_deadline
from bot.domain.workdays import PACKAGE_YEARS, check_year_entry
from storage.database import Tx
from storage.models import CalendarDay, CalendarYear
from storage.queries import audit
from storage.queries import calendar as q
from storage.queries import cases as case_q

from .runtime import Runtime


@dataclass(frozen=True)
class CalendarState:
    years: list[CalendarYear]
    days: list[CalendarDay]
    undated: list[tuple]  # (id, number, why) of open cases without a deadline
    package_years: tuple[int, int]  # the years chinesecalendar knows


async def state(rt: Runtime) -> CalendarState:
    def load(tx: Tx) -> CalendarState:
        s = tx.session
        return CalendarState(q.years(s), q.days(s), case_q.deadline_errors(s, limit=200),
                             (min(PACKAGE_YEARS), max(PACKAGE_YEARS)))

    return await rt.db.read(load)


async def enter_year(rt: Runtime, actor: Actor, year: int, holidays: list[date], workdays: list[date]) -> int:
    """Store a year's calendar; returns how many cases got their deadline."""
    check_year_entry(year, holidays, workdays)

    def save(tx: Tx) -> None:
        q.replace_year(tx.session, year, holidays, workdays, actor.label)
        audit.add(tx.session, actor.label, "calendar.saved", year=year, holidays=len(holidays), workdays=len(workdays))

    await rt.db.write(save)
    await rt.calendar.refresh(force=True)
    return await date_undated_cases(rt)


async def date_undated_cases(rt: Runtime) -> int:
    """Cases whose deadline could not be computed get one now the year is known."""
    tz, calendar = rt.settings.tz, rt.calendar.current

    def fix(tx: Tx) -> int:
        fixed = 0
        for case in case_q.undated(tx.session):
            d = compute_deadline(case.received_at, case.deadline_days, tz, calendar)
            if d.due_at is not None:
                case.deadline_at, case.deadline_error = d.due_at, None
                audit.add(tx.session, SYSTEM.label, "case.deadline_computed", case.id, deadline=d.due_at.isoformat())
                fixed += 1
        return fixed

    return await rt.db.write(fix)
