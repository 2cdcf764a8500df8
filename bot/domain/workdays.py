"""Legal working days (工作日) per the State Council's yearly holiday notice.

``chinesecalendar`` knows the years it was released with; the office can
enter a newer year's holidays and make-up working days itself. A year known
to neither is an error, never a silent Monday-to-Friday guess.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

import chinese_calendar

from .errors import InvalidInput


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
    # year → working days from 1 January through each day of the year.
    _through: dict = field(default_factory=dict, init=False, repr=False, compare=False)

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
        """Working days in (start, end]; negative when end is before start.
        Read off per-year running counts (built once per year), so a span
        of months costs as little as a day: statistics and answers ask it
        for every case."""
        if end < start:
            return -self.working_days_between(end, start)
        if end == start:
            return 0
        first = start + timedelta(days=1)
        total = 0
        for year in range(first.year, end.year + 1):
            through = self._year_through(year)
            lo = first.timetuple().tm_yday if year == first.year else 1
            hi = end.timetuple().tm_yday if year == end.year else len(through)
            total += through[hi - 1] - (through[lo - 2] if lo > 1 else 0)
        return total

    def _year_through(self, year: int) -> list[int]:
        through = self._through.get(year)
        if through is None:
            through, running, day = [], 0, date(year, 1, 1)
            while day.year == year:
                running += self.is_workday(day)  # an unknown year raises here, before anything is kept
                through.append(running)
                day += timedelta(days=1)
            self._through[year] = through
        return through

    def with_year(self, year: int, holidays: Iterable[date], workdays: Iterable[date]) -> "WorkingCalendar":
        overrides = dict(self.overrides)
        overrides.update({d: False for d in holidays})
        overrides.update({d: True for d in workdays})
        return WorkingCalendar(overrides, self.entered_years | {year})


# ---- entering a year (the State Council's notice, typed in by an admin) ------

_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")


def parse_days(text: str, year: int, field: str = "holidays") -> list[date]:
    """Dates one per line or separated by commas; a range as
    2027-02-10..2027-02-16 (or with ～ / ~ / 至). Every date in ``year``."""
    days: list[date] = []
    for chunk in re.split(r"[\n,，;；]+", text or ""):
        chunk = chunk.strip()
        if not chunk:
            continue
        parts = re.split(r"\s*(?:\.\.|～|~|至)\s*", chunk)
        try:
            dates = [date(*map(int, _DATE.fullmatch(p).groups())) for p in parts]  # type: ignore[union-attr]
        except (AttributeError, ValueError):
            raise InvalidInput(f"无法识别的日期：{chunk}（格式：2027-01-01 或 2027-02-10..2027-02-16）", field) from None
        if len(dates) == 1:
            days.append(dates[0])
        elif len(dates) == 2 and dates[0] <= dates[1] and (dates[1] - dates[0]).days < 40:
            days.extend(dates[0] + timedelta(days=i) for i in range((dates[1] - dates[0]).days + 1))
        else:
            raise InvalidInput(f"日期范围无效：{chunk}", field)
    for d in days:
        if d.year != year:
            raise InvalidInput(f"{d.isoformat()} 不在 {year} 年", field)
    return sorted(set(days))


def check_year_entry(year: int, holidays: list[date], workdays: list[date]) -> None:
    if not 2000 <= year <= 2100:
        raise InvalidInput("年份无效", "year")
    if set(holidays) & set(workdays):
        raise InvalidInput("同一天不能既是节假日又是调休上班日", "workdays")
    if not holidays:
        raise InvalidInput("请填写该年的法定节假日（按国务院办公厅通知）", "holidays")
