"""The annual report's tables as the product counts them, against the
specification's (tests/data/annual_report_tables.json, vendored from
shared/spec), and the arithmetic that arranges the counts."""

from __future__ import annotations

import json
import re

from bot.domain import report
from bot.domain.disclosure import OUTCOMES, report_tables
from bot.domain.vocabulary import APPLICANT_TYPES
from tests.conftest import DATA

SPEC = json.loads((DATA / "annual_report_tables.json").read_text(encoding="utf-8"))


def _keys(rows) -> list[str]:
    return [r["key"] for r in rows]


def test_the_products_tables_are_the_specifications():
    ours = report_tables()
    for name, value in SPEC.items():
        if isinstance(value, list) and value and isinstance(value[0], dict) and "key" in value[0]:
            assert _keys(ours[name]) == _keys(value), name
    columns = [c["key"] for c in SPEC["table3_columns"]["columns"]]
    assert [c for c in columns if c in APPLICANT_TYPES] == list(APPLICANT_TYPES)
    assert report.COLUMNS[-1] == "total" and set(report.COLUMNS) <= set(columns)


def test_every_result_row_of_the_2021_format_is_an_outcome():
    rows = _keys(report.table3_rows("2021"))
    assert [k for k in rows if k.startswith("r") and k != "r7"] == [o for o in OUTCOMES if o != "r6"]


def test_counting_a_year_adds_up():
    table3, decided = report.count_table3(
        "2021",
        buckets=[("new", "natural_person", 2), ("carried_in", "commercial", 1)],
        decided=[("r1", "natural_person", 1), ("r6", "commercial", 1)],  # a 2019-format outcome folds into r6_3
        carried_out=[("natural_person", 1)],
    )
    rows = table3["rows"]
    assert decided == 2 and rows["r6_3"]["commercial"] == 1 and rows["r7"]["total"] == 2
    interactions = report.count_interactions([("portal", "consultation", 4, 1, 1, 1, 1, 0),
                                              ("hotline", "help", 2, 0, 0, 0, 0, 1)])
    assert list(interactions["by_channel"].items()) == [("hotline", 2), ("portal", 4)]  # the vocabulary's order
    # A returned case (退回) or a cancelled order (撤单) is neither open nor answered, and not "time unknown".
    assert (interactions["answered_time_unknown"], interactions["returned"], interactions["cancelled"]) == (1, 1, 1)
    built = report.assemble(year=2020, template="2021", office=None, interactions=interactions, table3=table3,
                            table4=report.count_table4([]), decided_requests=decided, unregistered=0)
    assert report.all_checks_pass(built), [c for c in built["checks"] if not c["ok"]]


def test_check_labels_name_columns_rows_and_groups_in_chinese():
    from bot.domain.report import COLUMNS, REVIEW_KINDS, check_label, table3_rows

    assert check_label({"rule": "一+二=三(七)+四", "column": "natural_person"}) == "一+二=三(七)+四［自然人］"
    assert check_label({"rule": "总计=各类申请人之和", "row": "r3_1"}) == "总计=各类申请人之和［三（三）不予公开·1.属于国家秘密］"
    assert check_label({"rule": "总计=各类申请人之和", "row": "r7"}) == "总计=各类申请人之和［三（七）总计］"
    assert check_label({"rule": "表四", "group": "reconsideration"}) == "表四［行政复议］"
    assert check_label({"rule": "本年依申请公开案件均已登记"}) == "本年依申请公开案件均已登记"
    wheres = [{"column": c} for c in COLUMNS] + [{"group": g} for g in REVIEW_KINDS] + [
        {"row": r["key"]} for t in ("2019", "2021") for r in table3_rows(t)]
    for where in wheres:
        label = check_label({"rule": "规则", **where})
        assert not re.search(r"[a-z]", label), label
