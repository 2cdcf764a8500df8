"""What staff do to a case, as rules: reclassify, assign, change status,
pause the clock while the citizen is asked for more, merge a duplicate.
Each function checks and changes a case (``CaseRecord``: storage's Case
has this shape) and returns what changed, for the audit trail. No I/O:
bot/services/cases.py loads, saves and writes the trail.
"""

from __future__ import annotations

from datetime import date, datetime, time, timezone
from typing import Protocol
from zoneinfo import ZoneInfo

from .cases import compute_deadline
from .errors import Conflict, InvalidInput
from .vocabulary import KINDS, STATUSES, TOPICS, Status
from .workdays import UnknownCalendarYear, WorkingCalendar

EDITABLE = frozenset({"kind", "topic", "status", "assignee"})
MAX_NOTE = 5000
MAX_REPLY = 5000


class CaseError(InvalidInput):
    """A staff action the rules refuse."""


class StaleCase(Conflict):
    """Someone else changed the case since the form (or request) was made."""

    def __init__(self, current_version: int):
        super().__init__("该案件已被他人修改，请刷新后重试", "version")
        self.current_version = current_version


class CaseRecord(Protocol):
    id: int
    number: str
    channel: str
    kind: str
    topic: str
    status: str
    text: str
    received_at: datetime
    deadline_at: datetime | None
    deadline_days: int | None
    deadline_error: str | None
    waiting_since: datetime | None
    paused_days: int
    answered_at: datetime | None
    closed_at: datetime | None
    assignee_id: int | None
    merged_into_id: int | None
    last_message_at: datetime
    classified_by: str
    needs_review: bool
    version: int
    updated_at: datetime
    answered_date: date | None
    extended_days: int
    reopened: int
    rating: int | None
    urged: str | None
    urged_at: datetime | None
    returned_at: datetime | None
    return_reason: str | None
    return_basis: str | None
    follow_up_at: datetime | None
    answer_working_days: int | None
    ratings_given: int
    ratings_satisfied: int
    accepted_at: datetime | None
    return_requested_at: datetime | None
    cancelled_at: datetime | None


def check_version(case: CaseRecord, expected: int | None) -> None:
    if expected is not None and expected != case.version:
        raise StaleCase(case.version)


def check_changes(changes: dict) -> None:
    """Only kind, topic, status and assignee, each a known value."""
    unknown = set(changes) - EDITABLE
    if unknown:
        name = sorted(unknown)[0]
        raise CaseError(f"不能修改字段 {name}", name)
    if "kind" in changes and changes["kind"] not in KINDS:
        raise CaseError(f"未知的类型 {changes['kind']!r}", "kind")
    if "topic" in changes and changes["topic"] not in TOPICS:
        raise CaseError(f"未知的主题 {changes['topic']!r}", "topic")
    if "status" in changes and changes["status"] not in STATUSES:
        raise CaseError(f"未知的状态 {changes['status']!r}", "status")


def end_pause(case, now: datetime, calendar: WorkingCalendar, tz: ZoneInfo) -> dict:
    """Leave "waiting": push the deadline back by the working days the office
    waited for the citizen. ``case`` has waiting_since, deadline_at,
    paused_days and deadline_error. Returns what changed, for the audit."""
    since, case.waiting_since = case.waiting_since, None
    if since is None:
        return {}
    try:
        days = calendar.working_days_between(since.astimezone(tz).date(), now.astimezone(tz).date())
        if case.deadline_at is None or days <= 0:
            return {"paused_working_days": max(days, 0)}
        old = case.deadline_at
        last_day = calendar.add_working_days(old.astimezone(tz).date(), days)
    except UnknownCalendarYear as exc:
        case.deadline_error = str(exc)[:200]
        return {"pause_error": str(exc)}
    case.deadline_at = datetime.combine(last_day, time(23, 59, 59), tz).astimezone(timezone.utc)
    case.paused_days = (case.paused_days or 0) + days
    return {"paused_working_days": days, "deadline": [old.isoformat(), case.deadline_at.isoformat()]}


def reclassify(case: CaseRecord, kind: str, topic: str, *, days: int, tz: ZoneInfo, calendar: WorkingCalendar) -> dict:
    """Staff set the kind and topic. The deadline follows the new kind's
    limit (``days``) plus any days already paused or granted as extensions;
    a deadline the source fixed (12345 orders: deadline_days None) stays."""
    kind_changed = kind != case.kind
    case.kind, case.topic = kind, topic
    case.classified_by = "staff"
    case.needs_review = False
    if not kind_changed or case.deadline_days is None or days == case.deadline_days or case.reopened:
        return {}  # a re-handling's deadline counts from its rating, not the receipt: it stays
    old_at, old_days = case.deadline_at, case.deadline_days
    d = compute_deadline(case.received_at, days + (case.paused_days or 0) + (case.extended_days or 0), tz, calendar)
    case.deadline_at, case.deadline_days, case.deadline_error = d.due_at, days, d.error
    return {"deadline_days": [old_days, days],
            "deadline_at": [old_at.isoformat() if old_at else None, d.due_at.isoformat() if d.due_at else None]}


def check_reply(case: CaseRecord, text: str) -> str:
    text = (text or "").strip()
    if not text:
        raise CaseError("答复内容不能为空", "text")
    if len(text) > MAX_REPLY:
        raise CaseError(f"答复过长（最多 {MAX_REPLY} 字）", "text")
    if case.merged_into_id:
        raise CaseError("该案件已合并，请在合并后的案件中答复", "text")
    if case.status == Status.RETURNED:
        raise CaseError("该案件已退回，不能再答复", "text")
    return text


def check_note(text: str) -> str:
    text = (text or "").strip()
    if not text:
        raise CaseError("备注内容不能为空", "text")
    if len(text) > MAX_NOTE:
        raise CaseError(f"备注过长（最多 {MAX_NOTE} 字）", "text")
    return text


def merge(duplicate: CaseRecord, target: CaseRecord, now: datetime, *, has_open_disclosure: bool) -> str:
    """Close ``duplicate`` as merged into ``target``; returns its previous
    status. A registered disclosure request is a legal file counted in table
    三: it must be answered (e.g. as 重复申请, r5_2) before its case can go."""
    if duplicate.id == target.id:
        raise CaseError("不能把案件并入它自己", "target")
    if duplicate.merged_into_id is not None:
        raise CaseError("该案件已并入其他案件", "target")
    if target.merged_into_id is not None:
        raise CaseError(f"目标案件 {target.number} 本身已被合并，请并入它所并入的案件", "target")
    if has_open_disclosure:
        raise CaseError("该案件已登记为政府信息公开申请且尚未答复：请先在“政府信息公开”页面作出答复"
                        "（重复申请可答复为“不予处理—重复申请”），再合并", "target")
    previous = duplicate.status
    duplicate.merged_into_id = target.id
    duplicate.waiting_since = None
    duplicate.status = Status.MERGED
    duplicate.closed_at = duplicate.closed_at or now
    target.last_message_at = max(target.last_message_at, duplicate.last_message_at)
    return previous


def touch(case: CaseRecord, now: datetime) -> None:
    """A change staff made: the next stale form is refused."""
    case.version += 1
    case.updated_at = now
