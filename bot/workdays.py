"""Legal working days (工作日) per the State Council's yearly holiday notice.

``chinesecalendar`` knows the years it was released with; the office can
enter a newer year's holidays and make-up working days itself. A year known
to neither is an error, never a silent Monday-to-Friday guess.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

import chinese_calendar


class UnknownCalendarYear(LookupError):
    def __init__(self, year: int):
        self.year = year
        super().__init__(
            f"{year}年的法定节假日安排尚未录入：请管理员按国务院办公厅通知录入{year}年的节假日和调休上班日"
        )


def _package_years() -> frozenset[int]:
    years = {d.year for d in chinese_calendar.holidays} | {d.year for d in chinese_calendar.workdays}
    return frozenset(years)


PACKAGE_YEARS = _package_years()


@dataclass(frozen=True)
class WorkingCalendar:
    """``overrides`` maps a date to True (a working day, e.g. 调休 Saturday)
    or False (a holiday); ``entered_years`` are the years the office declared
    complete. Both come from the database; this class does no I/O."""

    overrides: Mapping[date, bool] = field(default_factory=dict)
    entered_years: frozenset[int] = frozenset()
    # (start, days) → last day: every message of a day asks the same
    # question. The calendar never changes (with_year makes a new one).
    _period_ends: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def knows(self, year: int) -> bool:
        return year in self.entered_years or year in PACKAGE_YEARS

    def is_workday(self, day: date) -> bool:
        if day in self.overrides:
            return self.overrides[day]
        if day.year in PACKAGE_YEARS:
            # chinese_calendar.is_workday's rule, without its per-call scan of
            # every known holiday (a third of the cost of recording an order).
            return day in chinese_calendar.workdays or (day.weekday() < 5 and day not in chinese_calendar.holidays)
        if day.year in self.entered_years:
            return day.weekday() < 5
        raise UnknownCalendarYear(day.year)

    def add_working_days(self, start: date, days: int) -> date:
        """The last day of a period of ``days`` working days that starts the
        day after ``start`` (the day of receipt itself is not counted)."""
        if days < 0:
            raise ValueError("days must be >= 0")
        end = self._period_ends.get((start, days))
        if end is None:
            end = self._period_ends[(start, days)] = self._add_working_days(start, days)
        return end

    def _add_working_days(self, start: date, days: int) -> date:
        current, left = start, days
        while left:
            current += timedelta(days=1)
            if self.is_workday(current):
                left -= 1
        return current

    def working_days_between(self, start: date, end: date) -> int:
        """Working days in (start, end]; negative when end is before start."""
        if end < start:
            return -self.working_days_between(end, start)
        count, current = 0, start
        while current < end:
            current += timedelta(days=1)
            if self.is_workday(current):
                count += 1
        return count

    def with_year(self, year: int, holidays: Iterable[date], workdays: Iterable[date]) -> "WorkingCalendar":
        overrides = dict(self.overrides)
        overrides.update({d: False for d in holidays})
        overrides.update({d: True for d in workdays})
        return WorkingCalendar(overrides, self.entered_years | {year})
