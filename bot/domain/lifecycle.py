"""A case's life as one state machine (国办发〔2020〕53号: 受理 → 办理 → 答复 →
办结 → 回访 → 评价, with 延期, 退回, 催办/督办 and 重办).

Which status may follow which, and what each step does to the answer time,
the deadline and its clock. Every channel and page changes a case's status
through these functions; one a status does not allow is a ``Conflict``
naming the current status, and nothing is changed. Pure: no I/O.

    new ─┬─ assigned ─┬─ in_progress ─┬─ answered ── closed
         │            │      ▲   │     │     │ rating ≤ 2 (重办)
         │            │      │   └─────┼─────┴──────────────► in_progress
         └────────────┴── waiting ◄────┘ (request_info: the clock pauses)
    any open status ── returned (退回, with the legal basis) · merged
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from zoneinfo import ZoneInfo

from .casework import CaseRecord, end_pause
from .cases import compute_deadline
from .errors import Conflict, InvalidInput
from .vocabulary import (
    ANSWERED_STATUSES, OPEN_STATUSES, RATING_SOURCES, SATISFIED_FROM, STATUS_LABELS, URGE_LEVELS, ReplyType, Status,
    UrgeLevel,
)
from .workdays import UnknownCalendarYear, WorkingCalendar

# Where staff may move a case by setting its status (the inbox's form, PATCH).
# Re-handling an answered case comes only from a low rating; a return and a
# merge have their own steps (they need a reason, a basis, a target).
SETTABLE: dict[str, frozenset[Status]] = {
    Status.NEW: frozenset({Status.ASSIGNED, Status.IN_PROGRESS, Status.WAITING, Status.ANSWERED, Status.CLOSED}),
    Status.ASSIGNED: frozenset({Status.NEW, Status.IN_PROGRESS, Status.WAITING, Status.ANSWERED, Status.CLOSED}),
    Status.IN_PROGRESS: frozenset({Status.ASSIGNED, Status.WAITING, Status.ANSWERED, Status.CLOSED}),
    Status.WAITING: frozenset({Status.IN_PROGRESS, Status.ANSWERED, Status.CLOSED}),
    Status.ANSWERED: frozenset({Status.CLOSED}),
    Status.CLOSED: frozenset(),
    Status.RETURNED: frozenset(),
    Status.MERGED: frozenset(),
}
FOLLOW_UP_DAYS = 7  # a citizen's message this long after the final answer is a follow-up of that case
RATING_DAYS = 7  # and a rating of it
MAX_REOPEN_BY_RATING = 2  # then a low rating goes before a leader (督办) instead


@dataclass(frozen=True)
class Clock:
    """The office's calendar and time zone: deadlines count legal working days."""

    tz: ZoneInfo
    calendar: WorkingCalendar

    def end_of(self, day: date) -> datetime:
        return datetime.combine(day, time(23, 59, 59), self.tz).astimezone(timezone.utc)

    def day(self, moment: datetime) -> date:
        return moment.astimezone(self.tz).date()


def label(status: str) -> str:
    return STATUS_LABELS.get(status, status)


def _refuse(case: CaseRecord, what: str) -> Conflict:
    return Conflict(f"当前状态为“{label(case.status)}”，不能{what}", "status", "illegal_transition")


def answer_figures(received_at: datetime, answered_at: datetime, clock: Clock) -> tuple[date, int | None]:
    """The answer's office-local day, and the legal working days from the
    day of receipt to it (None when the calendar can't count them, or the
    answer predates the receipt, as imported history may)."""
    start, day = clock.day(received_at), clock.day(answered_at)
    if day < start:
        return day, None
    try:
        return day, clock.calendar.working_days_between(start, day)
    except UnknownCalendarYear:
        return day, None


def mark_answered(case: CaseRecord, at: datetime, clock: Clock) -> None:
    """The final answer's time, its office-local day and the working days it
    took (the statistics count by them)."""
    case.answered_at = at
    case.answered_date, case.answer_working_days = answer_figures(case.received_at, at, clock)


def unmark_answered(case: CaseRecord) -> None:
    case.answered_at = case.answered_date = case.answer_working_days = None


def _leave_waiting(case: CaseRecord, now: datetime, clock: Clock) -> dict:
    return end_pause(case, now, clock.calendar, clock.tz) if case.status == Status.WAITING else {}


def set_status(case: CaseRecord, status: str, now: datetime, clock: Clock) -> dict:
    """Staff set the status. Entering "waiting" pauses the deadline; leaving
    it extends the deadline by the working days spent waiting. "answered" and
    "closed" given this way (answered by phone, say) keep the time of the
    first answer."""
    if status == case.status:
        return {}
    if status not in SETTABLE.get(case.status, frozenset()):
        raise _refuse(case, f"改为“{label(status)}”")
    detail = _leave_waiting(case, now, clock)
    if status == Status.WAITING:
        case.waiting_since = now
    case.status = status
    if status in ANSWERED_STATUSES and case.answered_at is None:
        mark_answered(case, now, clock)
    if status == Status.CLOSED:
        case.closed_at = case.closed_at or now
    if status in ANSWERED_STATUSES:
        case.urged = None
    if status == Status.CLOSED:
        case.follow_up_at = None  # closed after looking at it (a call, say)
    return detail


def reply(case: CaseRecord, reply_type: str, now: datetime, clock: Clock) -> dict:
    """A reply went to the citizen. ``final``: the answer (answered, 回访
    begins); ``interim``: progress, no status changes; ``request_info``: the
    office asks for more and the clock pauses until the citizen writes or
    staff resume. A supplementary final answer keeps the first one's time.
    Any reply meets a follow-up the citizen wrote after the answer."""
    if reply_type not in (ReplyType.FINAL, ReplyType.INTERIM, ReplyType.REQUEST_INFO):
        raise InvalidInput(f"type 必须是 {'、'.join(ReplyType)} 之一", "type")
    if case.status not in OPEN_STATUSES and case.status != Status.ANSWERED:
        raise _refuse(case, "再作答复")
    if reply_type != ReplyType.FINAL and case.status not in OPEN_STATUSES:
        raise _refuse(case, "发送进展告知或补充材料通知")
    case.follow_up_at = None
    if reply_type == ReplyType.FINAL:
        detail = _leave_waiting(case, now, clock)
        if case.status != Status.ANSWERED:
            case.status = Status.ANSWERED
            mark_answered(case, now, clock)
        case.urged = None  # answered: the urging is met (its record stays)
        return detail
    if reply_type == ReplyType.REQUEST_INFO and case.status != Status.WAITING:
        case.status, case.waiting_since = Status.WAITING, now
    return {}


def resume(case: CaseRecord, now: datetime, clock: Clock) -> dict:
    """The citizen wrote (or staff resume) while the office waited for them."""
    if case.status != Status.WAITING:
        return {}
    detail = _leave_waiting(case, now, clock)
    case.status = Status.IN_PROGRESS
    return detail


def extend(case: CaseRecord, working_days: int, now: datetime, clock: Clock, *, already: int, maximum: int) -> dict:
    """延期: the deadline moves by ``working_days`` legal working days. Asked
    before the deadline, of an open case, within the kind's maximum
    (``already`` granted before). Returns what changed."""
    if case.status not in OPEN_STATUSES:
        raise _refuse(case, "申请延期")
    if case.deadline_at is None:
        raise Conflict("该案件没有办理期限，无需延期", "deadline", "no_deadline")
    if now > case.deadline_at:
        raise Conflict("办理期限已过，不能再申请延期（延期须在期限届满前提出）", "deadline", "too_late")
    if already + working_days > maximum:
        raise InvalidInput(f"延期超过上限：此类诉求累计最多延期 {maximum} 个工作日（已延期 {already} 个）", "working_days")
    old = case.deadline_at
    try:
        last = clock.calendar.add_working_days(clock.day(old), working_days)
    except UnknownCalendarYear as exc:
        raise InvalidInput(str(exc), "working_days", "unknown_calendar_year") from None
    case.deadline_at = clock.end_of(last)
    case.extended_days = (case.extended_days or 0) + working_days
    return {"working_days": working_days, "deadline": [old.isoformat(), case.deadline_at.isoformat()]}


def check_extension(working_days, reason) -> tuple[int, str]:
    if not isinstance(working_days, int) or isinstance(working_days, bool) or not 1 <= working_days <= 60:
        raise InvalidInput("working_days 必须是 1 到 60 之间的整数", "working_days")
    reason = reason.strip() if isinstance(reason, str) else ""
    if not reason:
        raise InvalidInput("延期须写明理由", "reason", "missing")
    return working_days, reason[:2000]


def check_return(reason, basis) -> tuple[str, str]:
    reason = reason.strip() if isinstance(reason, str) else ""
    basis = basis.strip() if isinstance(basis, str) else ""
    if not reason:
        raise InvalidInput("退回须写明理由", "reason", "missing")
    if not basis:
        raise InvalidInput("退回须写明依据（职责分工的文件或法规条款）", "basis", "missing")
    return reason[:2000], basis[:2000]


def ask_return(case: CaseRecord, reason, basis, now: datetime) -> None:
    """退回 asked of whoever decides (the 12345 platform): the case stays as
    it is, the request shows on it until the answer comes."""
    reason, basis = check_return(reason, basis)
    if case.status not in OPEN_STATUSES:
        raise _refuse(case, "申请退回")
    if case.return_requested_at is not None:
        raise Conflict("该工单已有待平台答复的退回申请", "reason", "pending")
    case.return_requested_at, case.return_reason, case.return_basis = now, reason, basis


def refuse_return(case: CaseRecord) -> None:
    """The platform keeps the order with us: the request is gone, the case goes on."""
    if case.return_requested_at is None:
        raise Conflict("该工单没有待答复的退回申请", "approved", "no_pending_return")
    case.return_requested_at = case.return_reason = case.return_basis = None


def give_back(case: CaseRecord, reason: str, basis: str, now: datetime, clock: Clock) -> dict:
    """退回: not this office's remit. The reason and the legal basis are
    required; the case leaves the on-time count (it is not answered)."""
    reason, basis = check_return(reason, basis)
    if case.status not in OPEN_STATUSES:
        raise _refuse(case, "退回")
    case.return_requested_at = None
    detail = _leave_waiting(case, now, clock)
    previous = case.status
    case.status, case.returned_at, case.urged = Status.RETURNED, now, None
    case.return_reason, case.return_basis = reason, basis
    return {"status": [previous, Status.RETURNED], **detail}


@dataclass(frozen=True)
class RatingOutcome:
    reopened: bool  # 重办: back to in_progress with a new deadline
    supervised: bool  # too many re-handlings: before a leader (督办) instead


def check_rating(score, source) -> tuple[int, str]:
    if not isinstance(score, int) or isinstance(score, bool) or not 1 <= score <= 5:
        raise InvalidInput("score 必须是 1 到 5 的整数（5 非常满意 … 1 非常不满意）", "score")
    if source not in RATING_SOURCES:
        raise InvalidInput(f"source 必须是 {'、'.join(RATING_SOURCES)} 之一", "source")
    return score, source


def rate(case: CaseRecord, score: int, now: datetime, clock: Clock, *, days: int | None,
         max_reopen: int = MAX_REOPEN_BY_RATING, reopen: bool = True) -> RatingOutcome:
    """回访: a rating of the final answer. 2 or less re-opens the case (重办)
    with a new deadline from the day of the rating by the kind's limit
    (``days``); after ``max_reopen`` re-handlings a low rating is recorded
    and the case goes before a leader (督办) instead. ``reopen`` False:
    someone else decides on 重办 (the 12345 platform, by its own event)."""
    if case.status not in ANSWERED_STATUSES:
        raise _refuse(case, "评价（尚未答复）")
    case.rating = score
    case.ratings_given = (case.ratings_given or 0) + 1
    if score >= SATISFIED_FROM:
        case.ratings_satisfied = (case.ratings_satisfied or 0) + 1
        return RatingOutcome(False, False)
    if not reopen:
        return RatingOutcome(False, False)
    if (case.reopened or 0) >= max_reopen:
        urge(case, UrgeLevel.SUPERVISE, now)
        return RatingOutcome(False, True)
    case.status = Status.IN_PROGRESS
    case.reopened = (case.reopened or 0) + 1
    unmark_answered(case)
    case.closed_at = None
    if days is not None:
        d = compute_deadline(now, days, clock.tz, clock.calendar)
        case.deadline_at, case.deadline_days, case.deadline_error = d.due_at, days, d.error
        case.paused_days = 0
    return RatingOutcome(True, False)


def redo(case: CaseRecord, now: datetime, clock: Clock, *, days: int | None, deadline: datetime | None) -> dict:
    """重办 ordered by whoever oversees the case (the 12345 platform): an
    answered case is open again, with the deadline given or, without one,
    the kind's limit from today."""
    if case.status not in ANSWERED_STATUSES:
        raise _refuse(case, "重办（尚未答复）")
    previous = case.status
    case.status = Status.IN_PROGRESS
    case.reopened = (case.reopened or 0) + 1
    unmark_answered(case)
    case.closed_at = None
    if deadline is not None:
        case.deadline_at, case.deadline_error = deadline, None
    elif days is not None:
        d = compute_deadline(now, days, clock.tz, clock.calendar)
        case.deadline_at, case.deadline_days, case.deadline_error = d.due_at, days, d.error
    case.paused_days = 0
    return {"status": [previous, case.status], "reopened": case.reopened,
            "deadline": case.deadline_at.isoformat() if case.deadline_at else None}


def cancel(case: CaseRecord, now: datetime) -> dict:
    """撤单: the order is withdrawn. Closed without an answer; counted apart."""
    if case.status not in OPEN_STATUSES:
        raise _refuse(case, "撤单")
    previous = case.status
    case.status, case.closed_at, case.cancelled_at = Status.CLOSED, now, now
    case.urged = case.follow_up_at = case.return_requested_at = case.waiting_since = None
    return {"status": [previous, case.status]}


def accept(case: CaseRecord, now: datetime) -> None:
    """签收: the unit takes the order (once; an order still open)."""
    if case.accepted_at is not None:
        raise Conflict("该工单已签收", "accepted_at", "already_accepted")
    if case.status not in OPEN_STATUSES:
        raise _refuse(case, "签收")
    case.accepted_at = now


def urge(case: CaseRecord, level: str, now: datetime) -> None:
    """催办 / 督办: the case stands out in the inbox; 督办 outranks 催办."""
    if level not in URGE_LEVELS:
        raise InvalidInput(f"level 必须是 {'、'.join(URGE_LEVELS)} 之一", "level")
    if case.status not in OPEN_STATUSES and case.status not in ANSWERED_STATUSES:
        raise _refuse(case, "催办或督办")
    if case.urged != UrgeLevel.SUPERVISE:
        case.urged = level
    case.urged_at = now


def follows_up(answered_at: datetime | None, now: datetime) -> bool:
    """A citizen's message within a week of the final answer is about it."""
    return answered_at is not None and 0 <= (now - answered_at).total_seconds() <= FOLLOW_UP_DAYS * 86400


RATING_WORDS = {"非常满意": 5, "满意": 4, "基本满意": 3, "不满意": 2, "非常不满意": 1}


def rating_in(text: str) -> int | None:
    """A citizen's rating as they may type it: 1–5, or 满意/基本满意/不满意…"""
    t = (text or "").strip().strip("。.!！ ")
    if len(t) == 1 and t in "12345":
        return int(t)
    return RATING_WORDS.get(t)


RATING_QUESTION = ("\n\n请您对本次答复进行评价：回复数字 5（非常满意）、4（满意）、3（基本满意）、2（不满意）或 1（非常不满意），"
                   "也可直接回复“满意”“基本满意”“不满意”。7日内有效。")
RATING_THANKS = "感谢您的评价！受理编号 {number} 的评价已记录。"
RATING_REOPENED = ("很抱歉答复未能让您满意。受理编号 {number} 已重新交办，我们将在{days}个工作日内重新答复您。")
RATING_SUPERVISED = "很抱歉答复未能让您满意。受理编号 {number} 已提交领导督办，我们会尽快与您联系。"
