"""The 通报 statistics' arithmetic: what a date range and a grouping mean,
and how grouped counts become the table (rows per assignee, kind, channel
or topic, and the 合计 row).

Counting is one GROUP BY key in SQL (storage/queries/stats.py) over
figures each case keeps as it changes (bot/domain/lifecycle.py: the
working days its answer took, its ratings); these functions turn the
groups into rows. Pure: no I/O.

The rules (shared/spec/INTERFACES.md "Case lifecycle"; the annual report
counts the same way where the two overlap):

- a case counts in the range by its office-local day of receipt; merged
  duplicates never count;
- answered: status answered or closed; on time / late by the final answer's
  time against the deadline (no deadline: on time); an answered case
  without an answer time (imported history) is answered but neither;
- returned (退回) cases and orders cancelled by the 12345 platform (撤单)
  are not answered;
- open overdue: an active case past its deadline, and a case waiting for
  the citizen that was already past its deadline when the wait began (the
  wait pauses the clock, so it makes no case overdue by itself);
- rated / satisfied count ratings, not cases: a case re-handled and rated
  again counts twice;
- average working days: from the day of receipt to the day of the answer
  (days after receipt up to and including the answer day), over answered
  cases whose answer day is known, skipping those the calendar could not
  count when they were answered.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date

from .dates import MAX_YEAR, MIN_YEAR
from .errors import InvalidInput
from .vocabulary import CHANNEL_LABELS, KIND_LABELS, TOPIC_LABELS

BY_KEYS: tuple[str, ...] = ("assignee", "kind", "channel", "topic")
DEFAULT_BY = "assignee"
# The first column's heading in the exported tables.
BY_LABELS: dict[str, str] = {"assignee": "承办人", "kind": "诉求类型", "channel": "渠道", "topic": "主题"}
COUNT_FIELDS: tuple[str, ...] = ("received", "answered", "on_time", "late", "open_overdue", "extended", "returned",
                                 "cancelled", "reopened", "rated", "satisfied")
FIELDS: tuple[str, ...] = COUNT_FIELDS + ("satisfaction_rate", "avg_working_days")
FIELD_LABELS: dict[str, str] = {
    "received": "受理", "answered": "已答复", "on_time": "按期", "late": "超期答复", "open_overdue": "在办超期",
    "extended": "延期", "returned": "退回", "cancelled": "撤单", "reopened": "重办", "rated": "评价数", "satisfied": "满意数",
    "satisfaction_rate": "满意率", "avg_working_days": "平均办理工作日",
}
UNASSIGNED_LABEL = "未分派"
TOTAL_LABEL = "合计"
MAX_SPAN_YEARS = 3
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


# ---- the question ---------------------------------------------------------------


@dataclass(frozen=True)
class StatsQuery:
    start: date  # office-local days of receipt, inclusive
    end: date
    by: str


def parse_day(value, field: str) -> date:
    """A YYYY-MM-DD day (and nothing looser: 20260301 or a time is refused)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise InvalidInput(f"缺少参数 {field}（日期，格式 YYYY-MM-DD）", field, "missing")
    raw = value.strip() if isinstance(value, str) else ""
    if not _DAY.fullmatch(raw):
        raise InvalidInput(f"{field} 必须是 YYYY-MM-DD 格式的日期，例如 2026-11-01", field)
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(f"{field} 不是有效的日期：{raw}", field) from None
    if not MIN_YEAR <= day.year <= MAX_YEAR:
        raise InvalidInput(f"{field} 的年份须在 {MIN_YEAR}–{MAX_YEAR} 之间", field)
    return day


def _years_later(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def parse_query(start, end, by=None) -> StatsQuery:
    """The range and grouping as given (query parameters, command-line
    options); InvalidInput naming the field."""
    by = DEFAULT_BY if by is None or by == "" else by
    if by not in BY_KEYS:
        raise InvalidInput(f"by 必须是 {'、'.join(BY_KEYS)} 之一", "by")
    start_day, end_day = parse_day(start, "from"), parse_day(end, "to")
    if end_day < start_day:
        raise InvalidInput(f"to（{end_day}）不能早于 from（{start_day}）", "to")
    if end_day >= _years_later(start_day, MAX_SPAN_YEARS):
        raise InvalidInput(f"统计区间最长 {MAX_SPAN_YEARS} 年：to 须早于 {_years_later(start_day, MAX_SPAN_YEARS)}",
                           "to")
    return StatsQuery(start_day, end_day, by)


# ---- adding up ------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseGroup:
    """The counted cases of one key."""

    key: object  # an assignee id (None: unassigned), or a kind, channel or topic
    received: int
    answered: int
    answered_known: int  # answered with the answer's time known: on time or late
    late: int
    open_overdue: int
    extended: int
    returned: int
    cancelled: int
    reopened: int
    timed: int  # answered, with the working days their answer took known: the average's cases
    working_days: int  # those working days, summed
    rated: int  # ratings given to the key's cases
    satisfied: int


@dataclass
class _Sums:
    counts: dict[str, int]
    days: int = 0  # working days of the timed cases, summed
    timed: int = 0

    @classmethod
    def empty(cls) -> "_Sums":
        return cls({f: 0 for f in COUNT_FIELDS})

    def add(self, other: "_Sums") -> None:
        for f in COUNT_FIELDS:
            self.counts[f] += other.counts[f]
        self.days += other.days
        self.timed += other.timed

    def fields(self) -> dict:
        c = self.counts
        return {**c, "satisfaction_rate": satisfaction_rate(c["satisfied"], c["rated"]),
                "avg_working_days": round(self.days / self.timed, 2) if self.timed else None}


def satisfaction_rate(satisfied: int, rated: int) -> float | None:
    return round(satisfied / rated, 4) if rated else None


@dataclass(frozen=True)
class Person:
    username: str
    display_name: str | None


def row_identity(by: str, key, people: Mapping[int, Person]) -> tuple[str | None, str]:
    """(key, label) of a group key: an assignee by username (None when
    unassigned), the others by their stable key, each with its Chinese name."""
    if by == "assignee":
        if key is None:
            return None, UNASSIGNED_LABEL
        person = people.get(key)
        if person is None:  # not expected (assignees are users), but a table must not fail on it
            return f"#{key}", f"#{key}"
        return person.username, person.display_name or person.username
    labels = {"kind": KIND_LABELS, "channel": CHANNEL_LABELS, "topic": TOPIC_LABELS}[by]
    return key, labels.get(key, key)


def tally(query: StatsQuery, groups: Iterable[CaseGroup], *, people: Mapping[int, Person] | None = None) -> dict:
    """The table: one row per key, sorted by received (most first) then key,
    and the 合计 row."""
    people = people or {}
    rows, total = [], _Sums.empty()
    for g in groups:
        s = _Sums({"received": g.received, "answered": g.answered, "on_time": g.answered_known - g.late,
                   "late": g.late, "open_overdue": g.open_overdue, "extended": g.extended, "returned": g.returned,
                   "cancelled": g.cancelled, "reopened": g.reopened, "rated": g.rated, "satisfied": g.satisfied}, g.working_days, g.timed)
        key, label = row_identity(query.by, g.key, people)
        rows.append({"key": key, "label": label, **s.fields()})
        total.add(s)
    rows.sort(key=lambda r: (-r["received"], r["key"] is None, r["key"] or ""))
    return {"from": query.start.isoformat(), "to": query.end.isoformat(), "by": query.by, "rows": rows,
            "total": {"key": None, "label": TOTAL_LABEL, **total.fields()}}
