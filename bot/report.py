"""The annual tally (年度报告): interactions by channel and kind, table 三
(disclosure requests) with carry-in and carry-out, table 四 (reviews), and
every check rule of the format, evaluated.

All counting is GROUP BY in SQL over a handful of indexed columns; Python
only arranges the few dozen group rows into tables.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import and_, case, func, literal, literal_column, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.models import Case, DisclosureRequest, DisclosureReview

from .cases import APPLICANT_TYPES, CHANNELS, OPEN_STATUSES
from .disclosure import report_tables
from .workdays import UnknownCalendarYear, WorkingCalendar

TEMPLATES = ("2019", "2021")
COLUMNS: tuple[str, ...] = APPLICANT_TYPES + ("total",)
REVIEW_KINDS: tuple[str, ...] = ("reconsideration", "litigation_direct", "litigation_after")
REVIEW_KIND_LABELS = {"reconsideration": "行政复议", "litigation_direct": "行政诉讼·未经复议直接起诉",
                      "litigation_after": "行政诉讼·复议后起诉"}
REVIEW_RESULTS: tuple[str, ...] = ("upheld", "corrected", "other", "pending")
REVIEW_RESULT_LABELS = {"upheld": "结果维持", "corrected": "结果纠正", "other": "其他结果", "pending": "尚未审结",
                        "total": "总计"}


class ReportError(ValueError):
    def __init__(self, message: str, field: str | None = "year"):
        super().__init__(message)
        self.field = field


def default_template(year: int) -> str:
    """The 2019 trial format served the 2019 and 2020 reports; 2021 on."""
    return "2019" if year <= 2020 else "2021"


def table3_rows(template: str) -> list[dict]:
    name = ("table3_rows_2021_format_国办公开办函〔2021〕30号" if template == "2021"
            else "table3_rows_2019_trial_format_国办公开办函〔2019〕60号")
    return report_tables()[name]


def result_leaves(template: str) -> list[str]:
    return [r["key"] for r in table3_rows(template) if r["key"].startswith("r") and r["key"] != "r7"]


def row_for_outcome(outcome: str, template: str) -> str:
    """Stored outcomes are 2021 keys (or r6): fold them into the template's rows."""
    if template == "2019" and outcome.startswith("r6"):
        return "r6"
    if template == "2021" and outcome == "r6":
        return "r6_3"
    return outcome


def check_year(year: int, calendar: WorkingCalendar) -> None:
    if not 1990 <= year <= 2100:
        raise ReportError(f"年份 {year} 不在 1990–2100 之间")
    if not calendar.knows(year):
        raise ReportError(str(UnknownCalendarYear(year)))


async def build_report(
    conn: AsyncConnection, year: int, *, calendar: WorkingCalendar, template: str | None = None,
    office: str | None = None,
) -> dict:
    check_year(year, calendar)
    template = template or default_template(year)
    if template not in TEMPLATES:
        raise ReportError(f"template 必须是 {' 或 '.join(TEMPLATES)}", "template")
    interactions = await _interactions(conn, year)
    table3, decided = await _table3(conn, year, template)
    table4 = await _table4(conn, year)
    unregistered = await _unregistered_requests(conn, year)
    report = {
        "year": year,
        "template": template,
        "office": office,
        "interactions": interactions,
        "table3": table3,
        "table4": table4,
    }
    report["checks"] = evaluate_checks(report, decided_requests=decided, unregistered=unregistered)
    return report


async def _interactions(conn: AsyncConnection, year: int) -> dict:
    # Open is a matter of status; a settled case is on time or late by its
    # answer time, and "time unknown" when history was imported without one.
    settled = Case.status.not_in(sorted(OPEN_STATUSES))
    answered = and_(settled, Case.answered_at.is_not(None))
    on_time = and_(answered, or_(Case.deadline_at.is_(None), Case.answered_at <= Case.deadline_at))
    late = and_(answered, Case.deadline_at.is_not(None), Case.answered_at > Case.deadline_at)
    stmt = (
        select(
            Case.channel, Case.kind, func.count(),
            func.sum(case((on_time, 1), else_=0)),
            func.sum(case((late, 1), else_=0)),
            func.sum(case((settled, 0), else_=1)),
        )
        .where(Case.received_year == year, Case.merged_into_id.is_(None))
        .group_by(Case.channel, Case.kind)
    )
    by_channel: dict[str, int] = {}
    by_kind: dict[str, int] = {}
    by_channel_kind: dict[str, dict[str, int]] = {}
    totals = {"answered_on_time": 0, "answered_late": 0, "answered_time_unknown": 0, "open": 0}
    for channel, kind, n, n_on_time, n_late, n_open in await conn.execute(stmt):
        by_channel[channel] = by_channel.get(channel, 0) + n
        by_kind[kind] = by_kind.get(kind, 0) + n
        by_channel_kind.setdefault(channel, {})[kind] = n
        totals["answered_on_time"] += int(n_on_time or 0)
        totals["answered_late"] += int(n_late or 0)
        totals["open"] += int(n_open or 0)
        totals["answered_time_unknown"] += n - int(n_on_time or 0) - int(n_late or 0) - int(n_open or 0)
    order = {c: i for i, c in enumerate(CHANNELS)}
    by_channel = dict(sorted(by_channel.items(), key=lambda kv: order.get(kv[0], 99)))
    return {"total": sum(by_channel.values()), "by_channel": by_channel, "by_kind": by_kind,
            "by_channel_kind": {c: by_channel_kind[c] for c in by_channel}, **totals}


def _empty_row() -> dict[str, int]:
    return {c: 0 for c in COLUMNS}


async def _table3(conn: AsyncConnection, year: int, template: str) -> tuple[dict, int]:
    D = DisclosureRequest
    rows = {r["key"]: _empty_row() for r in table3_rows(template)}

    def add(row: str, applicant_type: str, n: int) -> None:
        rows[row][applicant_type if applicant_type in APPLICANT_TYPES else "other_org"] += n
        rows[row]["total"] += n

    # One statement: which bucket each request falls into for this year.
    # Grouped by the output label: PostgreSQL won't match the two copies of a
    # CASE with bound parameters in SELECT and GROUP BY.
    bucket = case((D.receipt_year == year, literal("new")), else_=literal("carried_in")).label("bucket")
    stmt = (
        select(bucket, D.applicant_type, func.count())
        .where(or_(D.receipt_year == year,
                   and_(D.receipt_year < year, or_(D.decided_year.is_(None), D.decided_year >= year))))
        .group_by(literal_column("bucket"), D.applicant_type)
    )
    for row, applicant_type, n in await conn.execute(stmt):
        add(row, applicant_type, n)
    decided = 0
    for outcome, applicant_type, n in await conn.execute(
        select(D.outcome, D.applicant_type, func.count()).where(D.decided_year == year)
        .group_by(D.outcome, D.applicant_type)
    ):
        add(row_for_outcome(outcome, template), applicant_type, n)
        decided += n
    for applicant_type, n in await conn.execute(
        select(D.applicant_type, func.count())
        .where(D.receipt_year <= year, or_(D.decided_year.is_(None), D.decided_year > year))
        .group_by(D.applicant_type)
    ):
        add("carried_out", applicant_type, n)
    leaves = result_leaves(template)
    rows["r7"] = {c: sum(rows[k][c] for k in leaves) for c in COLUMNS}
    return {"columns": list(COLUMNS), "rows": rows}, decided


async def _table4(conn: AsyncConnection, year: int) -> dict:
    R = DisclosureReview
    year_end = date(year, 12, 31)
    effective = case((or_(R.concluded_on.is_(None), R.concluded_on > year_end), literal("pending")),
                     else_=R.result).label("effective_result")
    out = {k: {**{r: 0 for r in REVIEW_RESULTS}, "total": 0} for k in REVIEW_KINDS}
    for kind, result, n in await conn.execute(
        select(R.kind, effective, func.count()).where(R.filed_year == year).group_by(R.kind, literal_column("effective_result"))
    ):
        out[kind][result] += n
    for k in REVIEW_KINDS:
        out[k]["total"] = sum(out[k][r] for r in REVIEW_RESULTS)
    return out


async def _unregistered_requests(conn: AsyncConnection, year: int) -> int:
    """Cases of kind disclosure_request received this year with no legal file."""
    stmt = (
        select(func.count()).select_from(Case)
        .outerjoin(DisclosureRequest, DisclosureRequest.case_id == Case.id)
        .where(Case.received_year == year, Case.kind == "disclosure_request", Case.merged_into_id.is_(None),
               DisclosureRequest.id.is_(None))
    )
    return int((await conn.execute(stmt)).scalar_one())


def evaluate_checks(report: dict, *, decided_requests: int, unregistered: int) -> list[dict]:
    """Every check rule of the format (annual_report_tables.json "checks"),
    plus the tally's own consistency."""
    checks: list[dict] = []
    rows = report["table3"]["rows"]
    leaves = result_leaves(report["template"])
    for c in COLUMNS:
        left = rows["new"][c] + rows["carried_in"][c]
        right = rows["r7"][c] + rows["carried_out"][c]
        checks.append({"rule": "一+二=三(七)+四", "column": c, "ok": left == right,
                       "detail": f"{rows['new'][c]}+{rows['carried_in'][c]}={left}；{rows['r7'][c]}+{rows['carried_out'][c]}={right}"})
    for c in COLUMNS:
        s = sum(rows[k][c] for k in leaves)
        checks.append({"rule": "三(七)=(一)至(六)各项之和", "column": c, "ok": rows["r7"][c] == s,
                       "detail": f"{rows['r7'][c]}={s}"})
    for key, row in rows.items():
        s = sum(row[c] for c in APPLICANT_TYPES)
        checks.append({"rule": "总计=各类申请人之和", "row": key, "ok": row["total"] == s,
                       "detail": f"{row['total']}={s}"})
    checks.append({"rule": "部分公开只计入(二)：每件已办结申请只计一次", "ok": rows["r7"]["total"] == decided_requests,
                   "detail": f"三(七)总计 {rows['r7']['total']}，本年办结申请 {decided_requests} 件"})
    checks.append({"rule": "本年依申请公开案件均已登记", "ok": unregistered == 0,
                   "detail": f"未登记 {unregistered} 件" if unregistered else "全部已登记"})
    for kind, row in report["table4"].items():
        s = sum(row[r] for r in REVIEW_RESULTS)
        checks.append({"rule": "表四：总计=维持+纠正+其他+尚未审结", "group": kind, "ok": row["total"] == s,
                       "detail": f"{row['total']}={s}"})
    inter = report["interactions"]
    parts = inter["answered_on_time"] + inter["answered_late"] + inter["answered_time_unknown"] + inter["open"]
    checks.append({"rule": "按渠道合计=按类型合计=按时答复+超期答复+答复时间不详+未办结",
                   "ok": sum(inter["by_channel"].values()) == sum(inter["by_kind"].values()) == parts,
                   "detail": f"{sum(inter['by_channel'].values())}={sum(inter['by_kind'].values())}={parts}"})
    return checks


def all_checks_pass(report: dict) -> bool:
    return all(c["ok"] for c in report["checks"])


async def report_for(engine, year: int, *, calendar: WorkingCalendar, template: str | None = None,
                     office: str | None = None) -> dict:
    """The report from a read-only snapshot (one transaction, so the tables agree)."""
    async with engine.connect() as conn:
        conn = await conn.execution_options(readonly=True)
        async with conn.begin():
            return await build_report(conn, year, calendar=calendar, template=template, office=office)
