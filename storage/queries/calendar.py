"""The holiday calendar the office entered (years chinesecalendar does not know yet)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ..models import CalendarDay, CalendarYear


def overrides(session: Session) -> tuple[dict[date, bool], set[int]]:
    """(day → is a working day, years entered as complete)."""
    days = dict(session.execute(select(CalendarDay.day, CalendarDay.is_workday)).all())
    years = set(session.execute(select(CalendarYear.year)).scalars())
    return days, years


def years(session: Session) -> list[CalendarYear]:
    return list(session.execute(select(CalendarYear).order_by(CalendarYear.year)).scalars())


def days(session: Session) -> list[CalendarDay]:
    return list(session.execute(select(CalendarDay).order_by(CalendarDay.day)).scalars())


def replace_year(session: Session, year: int, holidays: list[date], workdays: list[date], entered_by: str) -> None:
    session.execute(delete(CalendarDay).where(CalendarDay.day >= date(year, 1, 1), CalendarDay.day <= date(year, 12, 31)))
    session.add_all([CalendarDay(day=d, is_workday=False, note="节假日") for d in holidays])
    session.add_all([CalendarDay(day=d, is_workday=True, note="调休上班") for d in workdays])
    session.execute(delete(CalendarYear).where(CalendarYear.year == year))
    session.add(CalendarYear(year=year, entered_by=entered_by))
