"""The annual tally (年度报告) arithmetic: interactions by channel and kind,
table 三 (disclosure requests) with carry-in and carry-out, table 四
(reviews), and every check rule of the format, evaluated.

Counting is GROUP BY in SQL (storage/queries/reports.py); these functions
arrange the few dozen group rows into tables. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable

from .disclosure import report_tables
from .errors import InvalidInput
from .vocabulary import APPLICANT_TYPE_LABELS, APPLICANT_TYPES, CHANNELS
from .workdays import UnknownCalendarYear, WorkingCalendar

TEMPLATES = ("2019", "2021")
COLUMNS: tuple[str, ...] = APPLICANT_TYPES + ("total",)
REVIEW_KINDS: tuple[str, ...] = ("reconsideration", "litigation_direct", "litigation_after")
REVIEW_KIND_LABELS = {"reconsideration": "行政复议", "litigation_direct": "行政诉讼·未经复议直接起诉",
                      "litigation_after": "行政诉讼·复议后起诉"}
REVIEW_RESULTS: tuple[str, ...] = ("upheld", "corrected", "other", "pending")
REVIEW_RESULT_LABELS = {"upheld": "结果维持", "corrected": "结果纠正", "other": "其他结果", "pending": "尚未审结",
                        "total": "总计"}


class ReportError(InvalidInput):
    def __init__(self, message: str, field: str | None = "year"):
        super().__init__(message, field)


def default_template(year: int) -> str:
    """The 2019 trial format served the 2019 and 2020 reports; 2021 on."""
    return "2019" if year <= 2020 else "2021"


def table3_rows(template: str) -> list[dict]:
    name = ("table3_rows_2021_format_国办公开办函〔2021〕30号" if template == "2021"
            else "table3_rows_2019_trial_format_国办公开办函〔2019〕60号")
    return report_tables()[name]


def _row_labels() -> dict[str, str]:
    """Table 三's rows by key, as the official tables word them (a result's
    sub-item with its headings: 三（三）不予公开·1.属于国家秘密); the 2021
    format's wording first, the 2019 format's own rows after."""
    out: dict[str, str] = {}
    for template in ("2021", "2019"):
        for r in table3_rows(template):
            parent = r.get("parent") or ""
            if parent.startswith("（"):  # a sub-item of a result under 三
                label = f"三{parent}·{r['label']}"
            elif parent.startswith("三"):
                label = f"三{r['label']}"
            else:
                label = r["label"]
            out.setdefault(r["key"], label)
    return out


ROW_LABELS: dict[str, str] = _row_labels()
COLUMN_LABELS: dict[str, str] = {**APPLICANT_TYPE_LABELS, "total": "总计"}


def check_label(check: dict) -> str:
    """A check rule as staff read it: the rule, and where it was checked (a
    table 三 column or row, a table 四 group) by its Chinese name."""
    where = ""
    if check.get("column"):
        where = COLUMN_LABELS.get(check["column"], "其他")
    elif check.get("row"):
        where = ROW_LABELS.get(check["row"], "其他")
    elif check.get("group"):
        where = REVIEW_KIND_LABELS.get(check["group"], "其他")
    return check["rule"] + (f"［{where}］" if where else "")


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


def choose_template(year: int, template: str | None, calendar: WorkingCalendar) -> str:
    """The table format for ``year`` (refusing years the calendar can't count)."""
    check_year(year, calendar)
    template = template or default_template(year)
    if template not in TEMPLATES:
        raise ReportError(f"template 必须是 {' 或 '.join(TEMPLATES)}", "template")
    return template


def assemble(*, year: int, template: str, office: str | None, interactions: dict, table3: dict, table4: dict,
             decided_requests: int, unregistered: int) -> dict:
    report = {
        "year": year,
        "template": template,
        "office": office,
        "interactions": interactions,
        "table3": table3,
        "table4": table4,
    }
    report["checks"] = evaluate_checks(report, decided_requests=decided_requests, unregistered=unregistered)
    return report


def count_interactions(groups: Iterable[tuple]) -> dict:
    """From (channel, kind, count, on time, late, open, returned, cancelled)
    groups. Answered with no known time is what is left: settled, neither
    returned nor cancelled, and no answer time (imported history)."""
    by_channel: dict[str, int] = {}
    by_kind: dict[str, int] = {}
    by_channel_kind: dict[str, dict[str, int]] = {}
    totals = {"answered_on_time": 0, "answered_late": 0, "answered_time_unknown": 0, "open": 0, "returned": 0,
              "cancelled": 0}
    for channel, kind, n, n_on_time, n_late, n_open, n_returned, n_cancelled in groups:
        by_channel[channel] = by_channel.get(channel, 0) + n
        by_kind[kind] = by_kind.get(kind, 0) + n
        by_channel_kind.setdefault(channel, {})[kind] = n
        totals["answered_on_time"] += n_on_time
        totals["answered_late"] += n_late
        totals["open"] += n_open
        totals["returned"] += n_returned
        totals["cancelled"] += n_cancelled
        totals["answered_time_unknown"] += n - n_on_time - n_late - n_open - n_returned - n_cancelled
    order = {c: i for i, c in enumerate(CHANNELS)}
    by_channel = dict(sorted(by_channel.items(), key=lambda kv: order.get(kv[0], 99)))
    return {"total": sum(by_channel.values()), "by_channel": by_channel, "by_kind": by_kind,
            "by_channel_kind": {c: by_channel_kind[c] for c in by_channel}, **totals}


def _empty_row() -> dict[str, int]:
    return {c: 0 for c in COLUMNS}


def count_table3(template: str, *, buckets: Iterable[tuple[str, str, int]], decided: Iterable[tuple[str, str, int]],
           carried_out: Iterable[tuple[str, int]]) -> tuple[dict, int]:
    """Table 三 from the request groups (storage/queries/reports.py), and how
    many requests were decided in the year."""
    rows = {r["key"]: _empty_row() for r in table3_rows(template)}

    def add(row: str, applicant_type: str, n: int) -> None:
        rows[row][applicant_type if applicant_type in APPLICANT_TYPES else "other_org"] += n
        rows[row]["total"] += n

    for bucket, applicant_type, n in buckets:
        add(bucket, applicant_type, n)
    decided_count = 0
    for outcome, applicant_type, n in decided:
        add(row_for_outcome(outcome, template), applicant_type, n)
        decided_count += n
    for applicant_type, n in carried_out:
        add("carried_out", applicant_type, n)
    leaves = result_leaves(template)
    rows["r7"] = {c: sum(rows[k][c] for k in leaves) for c in COLUMNS}
    return {"columns": list(COLUMNS), "rows": rows}, decided_count


def count_table4(groups: Iterable[tuple[str, str, int]]) -> dict:
    """Table 四 from (kind, result on 31 December, count) groups."""
    out = {k: {**{r: 0 for r in REVIEW_RESULTS}, "total": 0} for k in REVIEW_KINDS}
    for kind, result, n in groups:
        out[kind][result] += n
    for k in REVIEW_KINDS:
        out[k]["total"] = sum(out[k][r] for r in REVIEW_RESULTS)
    return out


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
    parts = (inter["answered_on_time"] + inter["answered_late"] + inter["answered_time_unknown"] + inter["open"]
             + inter["returned"] + inter["cancelled"])
    checks.append({"rule": "按渠道合计=按类型合计=按时答复+超期答复+答复时间不详+未办结+已退回+已撤单",
                   "ok": sum(inter["by_channel"].values()) == sum(inter["by_kind"].values()) == parts,
                   "detail": f"{sum(inter['by_channel'].values())}={sum(inter['by_kind'].values())}={parts}"})
    return checks


def all_checks_pass(report: dict) -> bool:
    return all(c["ok"] for c in report["checks"])
