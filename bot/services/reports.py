"""The annual tally (年度报告) from one read-only snapshot, so its tables agree."""

from __future__ import annotations

from bot.domain import report as rules
from bot.domain.vocabulary import Kind
from bot.domain.workdays import WorkingCalendar
from storage.database import Database, Tx
from storage.queries import reports as q

from .runtime import Runtime


def _build(tx: Tx, year: int, template: str, office: str | None) -> dict:
    s = tx.session
    table3, decided = rules.count_table3(template, buckets=q.request_buckets(s, year),
                                         decided=q.decided_groups(s, year), carried_out=q.carried_out_groups(s, year))
    return rules.assemble(
        year=year, template=template, office=office, interactions=rules.count_interactions(q.interaction_groups(s, year)),
        table3=table3, table4=rules.count_table4(q.review_groups(s, year)), decided_requests=decided,
        unregistered=q.unregistered_requests(s, year, Kind.DISCLOSURE_REQUEST),
    )


async def build(db: Database, year: int, *, calendar: WorkingCalendar, template: str | None = None,
                office: str | None = None) -> dict:
    """The report of ``year`` (ReportError for a year the calendar can't
    count or a template that does not exist)."""
    template = rules.choose_template(year, template, calendar)
    return await db.read(_build, year, template, office)


async def annual(rt: Runtime, year: int, *, template: str | None = None, office: str | None = None) -> dict:
    calendar = await rt.calendar.refresh()
    return await build(rt.db, year, calendar=calendar, template=template, office=office)
