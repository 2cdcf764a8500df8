"""The 通报 statistics' arithmetic: what a range and a grouping may be, and
how the grouped counts become rows and the 合计 row."""

from __future__ import annotations

from datetime import date

import pytest

from bot.domain import stats
from bot.domain.errors import InvalidInput
from bot.domain.stats import CaseGroup, Person, StatsQuery


def test_a_range_and_a_grouping():
    q = stats.parse_query("2024-03-01", "2024-03-31")
    assert q == StatsQuery(date(2024, 3, 1), date(2024, 3, 31), "assignee")
    assert stats.parse_query(" 2024-03-01 ", "2024-03-01", "topic").by == "topic"
    # Three years at most: up to the day before the same date three years on.
    assert stats.parse_query("2021-01-01", "2023-12-31", "kind").end == date(2023, 12, 31)
    assert stats.parse_query("2024-02-29", "2027-02-27").start == date(2024, 2, 29)


@pytest.mark.parametrize("start,end,by,field", [
    (None, "2024-03-31", None, "from"),
    ("", "2024-03-31", None, "from"),
    ("2024-03-01", None, None, "to"),
    ("2024-3-1", "2024-03-31", None, "from"),
    ("20240301", "2024-03-31", None, "from"),
    ("2024-03-01T00:00:00", "2024-03-31", None, "from"),
    ("2024-02-30", "2024-03-31", None, "from"),
    ("2024-03-01", "2024-13-01", None, "to"),
    ("1900-01-01", "1900-02-01", None, "from"),
    ("2024-03-31", "2024-03-01", None, "to"),
    ("2021-01-01", "2024-01-01", None, "to"),
    ("2024-02-29", "2027-02-28", None, "to"),
    ("2024-03-01", "2024-03-31", "status", "by"),
    ("2024-03-01", "2024-03-31", "Assignee", "by"),
])
def test_bad_input_names_the_field_in_chinese(start, end, by, field):
    with pytest.raises(InvalidInput) as caught:
        stats.parse_query(start, end, by)
    assert caught.value.field == field
    assert any("\u4e00" <= ch <= "\u9fff" for ch in str(caught.value))


def _group(key, *, n=1, answered=0, known=0, late=0, overdue=0, extended=0, returned=0, cancelled=0, reopened=0,
           timed=0, days=0, rated=0, satisfied=0) -> CaseGroup:
    return CaseGroup(key, n, answered, known, late, overdue, extended, returned, cancelled, reopened, timed, days,
                     rated, satisfied)


def test_groups_become_rows_and_a_total():
    groups = [
        # user 7: 5 received, 3 answered (1 without a known time), 1 late, 2 answered in 0 and 6 working days.
        _group(7, n=5, answered=3, known=2, late=1, overdue=1, extended=1, reopened=1, timed=2, days=6,
               rated=3, satisfied=2),
        # Unassigned: 1 returned, 1 answered in 19 working days, rated once, unhappily.
        _group(None, n=2, answered=1, known=1, returned=1, timed=1, days=19, rated=1),
        _group(9, n=1, answered=1, known=1, timed=1, days=5),
    ]
    people = {7: Person("liming", "李明"), 9: Person("wangwu", None)}
    table = stats.tally(StatsQuery(date(2025, 4, 1), date(2025, 4, 30), "assignee"), groups, people=people)
    rows = {r["key"]: r for r in table["rows"]}
    assert [r["key"] for r in table["rows"]] == ["liming", None, "wangwu"]  # received 5, 2, 1
    assert [r["label"] for r in table["rows"]] == ["李明", "未分派", "wangwu"]
    li = rows["liming"]
    assert (li["received"], li["answered"], li["on_time"], li["late"], li["open_overdue"], li["extended"],
            li["returned"], li["reopened"], li["rated"], li["satisfied"]) == (5, 3, 1, 1, 1, 1, 0, 1, 3, 2)
    assert li["satisfaction_rate"] == round(2 / 3, 4) == 0.6667 and li["avg_working_days"] == 3.0
    assert rows[None]["avg_working_days"] == 19.0 and rows[None]["satisfaction_rate"] == 0.0
    assert rows["wangwu"]["satisfaction_rate"] is None and rows["wangwu"]["rated"] == 0
    total = table["total"]
    assert total["label"] == "合计"
    for field in stats.COUNT_FIELDS:
        assert total[field] == sum(r[field] for r in table["rows"]), field
    assert total["avg_working_days"] == round((6 + 19 + 5) / 4, 2) and total["satisfaction_rate"] == 0.5
    assert (table["from"], table["to"], table["by"]) == ("2025-04-01", "2025-04-30", "assignee")


def test_rows_by_kind_carry_the_vocabularys_labels_and_an_empty_range_has_a_total():
    q = StatsQuery(date(2024, 1, 1), date(2024, 1, 31), "kind")
    table = stats.tally(q, [_group("complaint"), _group("consultation", n=4)])
    assert [(r["key"], r["label"], r["received"]) for r in table["rows"]] == [
        ("consultation", "咨询", 4), ("complaint", "投诉", 1)]
    assert table["total"]["avg_working_days"] is None
    empty = stats.tally(q, [])
    assert empty["rows"] == [] and empty["total"]["received"] == 0 and empty["total"]["satisfaction_rate"] is None
