"""通报 statistics (GET /api/v1/stats, ``intake stats``, the dashboard's
month table) and the dashboard's digest of cases due soon or overdue per
assignee. Each reads one snapshot."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timezone

from bot.domain import stats as rules
from bot.domain.inbox import DUE_SOON_WORKING_DAYS, due_soon_cutoff
from bot.domain.stats import CaseGroup, Person, StatsQuery
from bot.domain.workdays import UnknownCalendarYear
from storage.database import Database, Tx
from storage.queries import stats as q

from .runtime import Runtime

DIGEST_CASES = 5  # case links per assignee and list on the dashboard; the counts say how many in all


def _load(tx: Tx, query: StatsQuery, now: datetime) -> tuple[list, dict]:
    s = tx.session
    q.plan_for_the_values(s)
    groups = q.case_groups(s, query.by, query.start, query.end, now)
    people = q.people(s, {g[0] for g in groups}) if query.by == "assignee" else {}
    return groups, people


async def build(db: Database, query: StatsQuery, *, now: datetime | None = None) -> dict:
    """The table for ``query`` (overdue as of ``now``), from one snapshot."""
    groups, people = await db.read(_load, query, now or datetime.now(timezone.utc))
    return rules.tally(query, [CaseGroup(*g) for g in groups], people={i: Person(*p) for i, p in people.items()})


async def table(rt: Runtime, start, end, by=None) -> dict:
    """The table for a range as given (strings from a query or the command
    line): InvalidInput naming the field when the range or grouping is wrong."""
    return await build(rt.db, rules.parse_query(start, end, by))


def month_range(today: date) -> tuple[date, date]:
    """From the 1st of ``today``'s month to ``today``."""
    return today.replace(day=1), today


# ---- the digest: due within 2 working days, and overdue ----------------------------


@dataclass(frozen=True)
class DueCase:
    id: int
    number: str
    deadline_at: datetime


@dataclass
class AssigneeDue:
    key: str | None  # username; None: unassigned
    label: str
    overdue: int = 0
    due_soon: int = 0
    overdue_cases: list[DueCase] = field(default_factory=list)
    due_soon_cases: list[DueCase] = field(default_factory=list)


@dataclass(frozen=True)
class Digest:
    assignees: list[AssigneeDue]
    working_days: int  # "due soon" means within this many working days
    calendar_error: str | None  # the calendar cannot count that far: only overdue cases are listed


async def due_digest(rt: Runtime, *, now: datetime | None = None, per_assignee: int = DIGEST_CASES) -> Digest:
    """Per assignee, the active cases overdue and those due within two
    working days (the inbox's 已超期 and 两日内到期), the most urgent first;
    assignees with neither are left out."""
    now = now or datetime.now(timezone.utc)
    tz = rt.settings.tz
    calendar = await rt.calendar.refresh()
    calendar_error = None
    try:
        cutoff = due_soon_cutoff(now.astimezone(tz).date(), tz, calendar)
    except UnknownCalendarYear as exc:
        cutoff, calendar_error = now, str(exc)

    def load(tx: Tx) -> tuple[list, list, dict]:
        s = tx.session
        counts = q.due_counts(s, now, cutoff)
        listed = q.due_cases(s, now, cutoff, per_assignee)
        return counts, listed, q.people(s, {c[0] for c in counts})

    counts, listed, people = await rt.db.read(load)
    who = {i: Person(*p) for i, p in people.items()}
    by_id: dict[int | None, AssigneeDue] = {}
    for assignee_id, overdue, due_soon in counts:
        key, label = rules.row_identity("assignee", assignee_id, who)
        by_id[assignee_id] = AssigneeDue(key, label, overdue, due_soon)
    for assignee_id, case_id, number, deadline_at, overdue in listed:
        entry = by_id[assignee_id]
        (entry.overdue_cases if overdue else entry.due_soon_cases).append(DueCase(case_id, number, deadline_at))
    # Most overdue first; the unassigned after the named with as many.
    ordered = sorted(by_id.values(), key=lambda a: (-a.overdue, -a.due_soon, a.key is None, a.key or ""))
    return Digest(ordered, DUE_SOON_WORKING_DAYS, calendar_error)
