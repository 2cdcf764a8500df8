"""The inbox's pure rules: WeChat's window, deadline countdown, search tokens,
the deadline pause and the holiday form. No database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from bot.domain.casework import end_pause
from bot.domain.errors import InvalidInput
from bot.domain.inbox import deadline_state, due_soon_cutoff, wechat_window
from bot.domain.workdays import UnknownCalendarYear, WorkingCalendar, parse_days
from nlp.search_tokens import document_tokens, query_tokens

TZ = ZoneInfo("Asia/Shanghai")
CAL = WorkingCalendar()


@dataclass
class FakeCase:
    deadline_at: datetime | None
    status: str = "in_progress"
    deadline_error: str | None = None
    answered_at: datetime | None = None
    closed_at: datetime | None = None
    waiting_since: datetime | None = None
    paused_days: int = 0


def test_wechat_window_48_hours_and_5_messages():
    wrote = datetime(2026, 11, 20, 10, tzinfo=timezone.utc)
    assert wechat_window(wrote, 0, wrote + timedelta(hours=47, minutes=59)).open
    closed = wechat_window(wrote, 0, wrote + timedelta(hours=48))
    assert not closed.open and "48小时" in closed.advice
    assert wechat_window(wrote, 4, wrote + timedelta(hours=1)).remaining == 1
    full = wechat_window(wrote, 5, wrote + timedelta(hours=1))
    assert not full.open and "5条" in full.advice
    never = wechat_window(None, 0, wrote, phone="13800001234")
    assert not never.open and "电话" in never.advice


def test_deadline_countdown_in_legal_working_days():
    # Due Tuesday 2020-09-29; on Friday 09-25 the make-up Sunday 09-27 counts.
    due = datetime(2020, 9, 29, 23, 59, 59, tzinfo=TZ)
    friday = datetime(2020, 9, 25, 10, tzinfo=TZ)
    state = deadline_state(FakeCase(due), friday, TZ, CAL)
    assert (state.css, state.working_days_left) == ("ok", 3)
    assert deadline_state(FakeCase(due), datetime(2020, 9, 28, 10, tzinfo=TZ), TZ, CAL).label == "剩余 1 个工作日"
    assert deadline_state(FakeCase(due), datetime(2020, 9, 29, 10, tzinfo=TZ), TZ, CAL).label == "今天到期"
    # Overdue across the National Day holiday (10-01..10-08): 09-30, 10-09 and
    # the make-up Saturday 10-10 are the working days since.
    late = deadline_state(FakeCase(due), datetime(2020, 10, 10, 10, tzinfo=TZ), TZ, CAL)
    assert late.css == "overdue" and late.label == "已超期 3 个工作日"
    assert deadline_state(FakeCase(due, status="waiting"), friday, TZ, CAL).css == "paused"
    done = FakeCase(due, status="answered", answered_at=datetime(2020, 9, 28, tzinfo=TZ))
    assert deadline_state(done, friday, TZ, CAL).label == "按期办结"
    assert deadline_state(FakeCase(None, deadline_error="2027年…"), friday, TZ, CAL).css == "error"


def test_due_soon_is_two_working_days():
    # Friday 2020-09-25: the next two working days are Sunday 09-27 (make-up) and Monday 09-28.
    cutoff = due_soon_cutoff(date(2020, 9, 25), TZ, CAL)
    assert cutoff.astimezone(TZ).date() == date(2020, 9, 28)


def test_pause_extends_the_deadline_by_the_working_days_waited():
    case = FakeCase(datetime(2020, 9, 29, 23, 59, 59, tzinfo=TZ).astimezone(timezone.utc), status="waiting",
                    waiting_since=datetime(2020, 9, 21, 9, tzinfo=TZ))
    detail = end_pause(case, datetime(2020, 9, 25, 17, tzinfo=TZ), CAL, TZ)
    assert detail["paused_working_days"] == 4  # 22, 23, 24, 25 September
    # Four working days after 09-29: the holiday runs 10-01..10-08, 10-09 and 10-10 (make-up) are working days.
    assert case.deadline_at.astimezone(TZ).date() == date(2020, 10, 12)
    assert case.waiting_since is None and case.paused_days == 4


def test_pause_into_an_unknown_year_is_an_error_not_a_guess():
    case = FakeCase(datetime(2026, 12, 30, 23, 59, 59, tzinfo=TZ), status="waiting",
                    waiting_since=datetime(2026, 12, 1, 9, tzinfo=TZ))
    detail = end_pause(case, datetime(2026, 12, 28, 9, tzinfo=TZ), CAL, TZ)
    assert "pause_error" in detail and "2027" in case.deadline_error


def test_search_tokens_find_parts_of_long_words():
    doc = document_tokens("咨询人防车位产权", "请问防空警报几点试鸣？ＡＢＣ")
    tokens = set(doc.split())
    assert {"人防", "车位", "人防车位", "防空", "警报", "防空警报", "abc"} <= tokens
    assert query_tokens("人防车位") == ["人防车位"]
    # a text short enough to be remembered and one too long give what cutting them afresh gives
    from nlp.search_tokens import CACHE_TEXT_MAX, _document_tokens

    long_text = "请问防空警报几点试鸣？" * (CACHE_TEXT_MAX // 8)
    for args in ((None, "请问防空警报几点试鸣？"), (None, long_text), ("标题", "请问人防车位")):
        assert document_tokens(*args) == document_tokens(*args) == _document_tokens(args)
    assert query_tokens("  “车位”！ ") == ["车位"]
    assert query_tokens("!!!") == []


def test_search_tokens_normalise_each_token_on_its_own():
    """_normalise works over the tokens joined by newlines; the result must be
    what each token normalised on its own gives, also where NFKC composes,
    expands or reorders, and where lower case depends on a neighbour."""
    import random
    import re
    import unicodedata

    from nlp.search_tokens import _normalise

    def token_by_token(tokens):
        out = []
        for tok in tokens:
            out.extend(re.findall(r"[^\W_]+", unicodedata.normalize("NFKC", tok).lower()))
        return out

    tricky = ["e", "\u0301", "a\u0323\u0301", "ΟΔΟΣ", "Σ", "ς", "¼", "㍱", "ﬁ", "İ", "Ｉ", "_x_", "\n", "",
              "\u200b", "\u00a0", "ｶﾞ", "ﾞ", "人防车位", "A1", "①", "⑩号楼"]
    rnd = random.Random(7)
    for _ in range(3000):
        tokens = [rnd.choice(tricky) for _ in range(rnd.randint(0, 6))]
        assert _normalise(tokens) == token_by_token(tokens), tokens
    assert _normalise(["ΟΔΟΣ", "Σ"]) == ["οδος", "σ"]  # final sigma: decided within each token


def test_holiday_form_dates_and_ranges():
    assert parse_days("2027-01-01\n2027-02-05..2027-02-07, 2027-05-01", 2027) == [
        date(2027, 1, 1), date(2027, 2, 5), date(2027, 2, 6), date(2027, 2, 7), date(2027, 5, 1)]
    for bad in ("2027-02-30", "tomorrow", "2026-12-31", "2027-03-01..2027-02-01"):
        with pytest.raises(InvalidInput):
            parse_days(bad, 2027)


def test_chart_axis_is_round_and_labels_are_escaped():
    import xml.etree.ElementTree as ET

    from bot.exports.charts import bar_chart

    svg = bar_chart("2020年<各渠道>", ["门户网站", "a&b"], [104, 34])
    root = ET.fromstring(svg)  # well-formed despite < & in the labels
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "2020年<各渠道>" in texts and "a&b" in texts and "104" in texts and "34" in texts
    assert "125" in texts  # axis top: the round number just above 104


def test_working_days_between_agrees_with_counting_day_by_day():
    # The running counts (the fast way) against the plain walk over the days.
    import random

    cal = WorkingCalendar().with_year(2027, [date(2027, 1, 1)], [])

    def walk(start: date, end: date) -> int:
        if end < start:
            return -walk(end, start)
        n, day = 0, start
        while day < end:
            day += timedelta(days=1)
            n += cal.is_workday(day)
        return n

    rng = random.Random(7)
    base = date(2023, 1, 1).toordinal()
    for _ in range(400):
        a, b = (date.fromordinal(base + rng.randrange(5 * 365 - 1)) for _ in range(2))
        assert cal.working_days_between(a, b) == walk(a, b), (a, b)
    assert cal.working_days_between(date(2024, 12, 31), date(2024, 12, 31)) == 0
    with pytest.raises(UnknownCalendarYear):
        cal.working_days_between(date(2027, 12, 30), date(2028, 1, 3))


def test_classification_note_names_the_staff_member_not_the_models_confidence():
    from bot.domain.inbox import classification_note

    assert classification_note("staff", 0.3, "张三") == "人工改分类（张三）"
    assert classification_note("staff", 0.3, "") == "人工改分类"
    assert classification_note("rules", 0.3) == "规则，置信度 30%"
    assert classification_note("model", 0.876) == "模型，置信度 88%"
    assert "置信度" not in classification_note("staff", 0.99, None)
