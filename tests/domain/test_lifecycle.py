"""The case lifecycle as a state machine (bot/domain/lifecycle.py): what each
step does to the status, the answer time, the deadline and its clock, and
that a step the status does not allow is refused with nothing changed."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from bot.domain import lifecycle
from bot.domain.errors import Conflict, InvalidInput
from bot.domain.lifecycle import Clock
from bot.domain.workdays import WorkingCalendar

TZ = ZoneInfo("Asia/Shanghai")
CLOCK = Clock(TZ, WorkingCalendar())


def at(day: str, hour: int = 10) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=TZ).astimezone(timezone.utc)


@dataclass
class FakeCase:
    status: str = "in_progress"
    received_at: datetime = at("2025-03-03")  # a Monday
    deadline_at: datetime | None = CLOCK.end_of(date(2025, 3, 24))  # 15 working days
    deadline_days: int | None = 15
    deadline_error: str | None = None
    waiting_since: datetime | None = None
    paused_days: int = 0
    answered_at: datetime | None = None
    answered_date: date | None = None
    closed_at: datetime | None = None
    extended_days: int = 0
    reopened: int = 0
    rating: int | None = None
    urged: str | None = None
    urged_at: datetime | None = None
    returned_at: datetime | None = None
    return_reason: str | None = None
    return_basis: str | None = None
    follow_up_at: datetime | None = None
    answer_working_days: int | None = None
    ratings_given: int = 0
    ratings_satisfied: int = 0


def unchanged_after(case: FakeCase, step) -> Exception:
    """Run a step that must be refused; the case must not have changed."""
    before = copy.deepcopy(case)
    with pytest.raises((Conflict, InvalidInput)) as info:
        step(case)
    assert case == before
    return info.value


def test_interim_reply_changes_nothing_but_request_info_pauses_the_clock():
    case = FakeCase()
    lifecycle.reply(case, "interim", at("2025-03-05"), CLOCK)
    assert (case.status, case.answered_at) == ("in_progress", None)
    lifecycle.reply(case, "request_info", at("2025-03-05"), CLOCK)
    assert case.status == "waiting" and case.waiting_since == at("2025-03-05") and case.answered_at is None
    # The citizen writes back three working days later: the deadline moves by three.
    lifecycle.resume(case, at("2025-03-10"), CLOCK)
    assert case.status == "in_progress" and case.paused_days == 3
    assert case.deadline_at == CLOCK.end_of(date(2025, 3, 27))


def test_final_reply_answers_once_and_keeps_the_first_answer_time():
    case = FakeCase(status="waiting", waiting_since=at("2025-03-05"))
    lifecycle.reply(case, "final", at("2025-03-06"), CLOCK)  # answered while waiting: the pause ends
    assert case.status == "answered" and case.answered_at == at("2025-03-06")
    assert case.answered_date == date(2025, 3, 6) and case.paused_days == 1
    lifecycle.reply(case, "final", at("2025-03-07"), CLOCK)  # a supplementary answer
    assert case.answered_at == at("2025-03-06")
    # Progress or a request for more makes no sense once it is answered.
    error = unchanged_after(case, lambda c: lifecycle.reply(c, "request_info", at("2025-03-07"), CLOCK))
    assert "已答复" in error.message and error.field == "status"


def test_a_reply_type_that_does_not_exist_is_refused():
    error = unchanged_after(FakeCase(), lambda c: lifecycle.reply(c, "answer", at("2025-03-05"), CLOCK))
    assert error.field == "type"


@pytest.mark.parametrize("start,target", [
    ("answered", "in_progress"), ("closed", "answered"), ("returned", "in_progress"), ("merged", "new"),
    ("answered", "waiting"), ("closed", "new"),
])
def test_illegal_status_changes_are_refused_naming_the_current_status(start, target):
    case = FakeCase(status=start, answered_at=at("2025-03-05") if start in ("answered", "closed") else None)
    error = unchanged_after(case, lambda c: lifecycle.set_status(c, target, at("2025-03-06"), CLOCK))
    assert isinstance(error, Conflict) and lifecycle.label(start) in error.message


def test_staff_answering_by_status_keeps_the_first_answer_and_closing_keeps_it_too():
    case = FakeCase()
    lifecycle.set_status(case, "answered", at("2025-03-05"), CLOCK)
    lifecycle.set_status(case, "closed", at("2025-03-06"), CLOCK)
    assert case.answered_at == at("2025-03-05") and case.closed_at == at("2025-03-06")


def test_extension_before_the_deadline_moves_it_by_working_days_within_the_maximum():
    case = FakeCase()
    detail = lifecycle.extend(case, 5, at("2025-03-20"), CLOCK, already=0, maximum=15)
    assert case.deadline_at == CLOCK.end_of(date(2025, 3, 31)) and case.extended_days == 5
    assert detail["working_days"] == 5
    error = unchanged_after(case, lambda c: lifecycle.extend(c, 11, at("2025-03-21"), CLOCK, already=5, maximum=15))
    assert error.field == "working_days" and "15" in error.message
    late = unchanged_after(case, lambda c: lifecycle.extend(c, 1, at("2025-04-01"), CLOCK, already=5, maximum=15))
    assert isinstance(late, Conflict) and "期限已过" in late.message


def test_extension_needs_days_and_a_reason():
    for days, reason, field in [(0, "理由", "working_days"), (61, "理由", "working_days"), ("3", "理由", "working_days"),
                                (True, "理由", "working_days"), (3, "  ", "reason"), (3, None, "reason")]:
        with pytest.raises(InvalidInput) as info:
            lifecycle.check_extension(days, reason)
        assert info.value.field == field


def test_return_needs_a_reason_and_a_basis_and_leaves_the_answer_unset():
    case = FakeCase(urged="催办")
    assert unchanged_after(case, lambda c: lifecycle.give_back(c, "不属本部门", " ", at("2025-03-05"), CLOCK)).field == "basis"
    assert unchanged_after(case, lambda c: lifecycle.give_back(c, "", "条例", at("2025-03-05"), CLOCK)).field == "reason"
    lifecycle.give_back(case, "不属本部门", "《条例》第十条", at("2025-03-05"), CLOCK)
    assert (case.status, case.answered_at, case.urged) == ("returned", None, None)
    assert unchanged_after(case, lambda c: lifecycle.reply(c, "final", at("2025-03-06"), CLOCK)).field == "status"


def test_a_low_rating_reopens_with_a_new_deadline_from_the_rating_day():
    case = FakeCase(status="answered", answered_at=at("2025-03-10"), answered_date=date(2025, 3, 10))
    outcome = lifecycle.rate(case, 2, at("2025-03-12"), CLOCK, days=15)
    assert outcome.reopened and not outcome.supervised
    assert (case.status, case.reopened, case.answered_at, case.answered_date) == ("in_progress", 1, None, None)
    # 15 working days from Wednesday 12 March 2025.
    assert case.deadline_at == CLOCK.end_of(date(2025, 4, 2)) and case.rating == 2


def test_after_two_reopenings_a_low_rating_goes_to_a_leader_instead():
    case = FakeCase(status="answered", answered_at=at("2025-03-10"), reopened=2)
    outcome = lifecycle.rate(case, 1, at("2025-03-12"), CLOCK, days=15, max_reopen=2)
    assert outcome.supervised and not outcome.reopened
    assert (case.status, case.reopened, case.urged, case.rating) == ("answered", 2, "督办", 1)


def test_a_good_rating_changes_only_the_rating_and_an_open_case_cannot_be_rated():
    case = FakeCase(status="answered", answered_at=at("2025-03-10"))
    lifecycle.rate(case, 3, at("2025-03-12"), CLOCK, days=15)
    assert (case.status, case.rating, case.reopened) == ("answered", 3, 0)
    error = unchanged_after(FakeCase(), lambda c: lifecycle.rate(c, 5, at("2025-03-12"), CLOCK, days=15))
    assert isinstance(error, Conflict) and "办理中" in error.message
    for score in (0, 6, "5", None, True, 2.5):
        with pytest.raises(InvalidInput):
            lifecycle.check_rating(score, "staff")
    with pytest.raises(InvalidInput):
        lifecycle.check_rating(4, "neighbour")


def test_supervision_outranks_urging_and_a_final_answer_meets_it():
    case = FakeCase()
    lifecycle.urge(case, "督办", at("2025-03-05"))
    lifecycle.urge(case, "催办", at("2025-03-06"))
    assert case.urged == "督办" and case.urged_at == at("2025-03-06")
    lifecycle.reply(case, "final", at("2025-03-07"), CLOCK)
    assert case.urged is None
    assert unchanged_after(FakeCase(), lambda c: lifecycle.urge(c, "加急", at("2025-03-05"))).field == "level"


def test_citizens_ratings_as_they_type_them():
    assert [lifecycle.rating_in(t) for t in ("5", " 1。", "满意", "基本满意！", "不满意", "非常不满意", "6", "满意吗",
                                             "我不满意你们的处理", "")] == [5, 1, 4, 3, 2, 1, None, None, None, None]


def test_a_follow_up_is_within_a_week_of_the_answer():
    answered = at("2025-03-10")
    assert lifecycle.follows_up(answered, answered + timedelta(days=6, hours=23))
    assert not lifecycle.follows_up(answered, answered + timedelta(days=7, seconds=1))
    assert not lifecycle.follows_up(None, answered)
