"""The staff inbox's rules: its views as filters over cases, the deadline
countdown in legal working days, and WeChat's customer-service window.
No I/O: services load the rows, storage turns a ``CaseFilter`` into SQL,
and these functions say what to show."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Protocol
from zoneinfo import ZoneInfo

from .vocabulary import ACTIVE_STATUSES, ANSWERED_STATUSES, CLASSIFIED_BY_LABELS, Status
from .workdays import UnknownCalendarYear, WorkingCalendar

DUE_SOON_WORKING_DAYS = 2

# view key → label, in display order. "open" is the default: every open case,
# whatever the year it came in.
VIEWS: dict[str, str] = {
    "open": "全部待办",
    "new": "新收",
    "mine": "我的",
    "overdue": "已超期",
    "due_soon": "两日内到期",
    "waiting": "待群众补充",
    "urged": "督办",
    "follow_up": "群众追问",
    "unaccepted": "未签收",
    "answered": "已答复",
    "closed": "已办结",
    "returned": "已退回",
    "all": "全部",
}
OPEN_VIEWS = ("open", "new", "mine", "overdue", "due_soon", "waiting")
CLOSED_VIEWS = ("answered", "closed", "returned", "all")
# Counted on every page beside the open views: what a leader looks at first.
ALERT_VIEWS = ("urged", "follow_up", "unaccepted")


def due_soon_cutoff(today: date, tz: ZoneInfo, calendar: WorkingCalendar) -> datetime:
    """End of the 2nd working day after today: deadlines up to then are due soon."""
    last = calendar.add_working_days(today, DUE_SOON_WORKING_DAYS)
    return datetime.combine(last, time(23, 59, 59), tz).astimezone(timezone.utc)


@dataclass(frozen=True)
class CaseFilter:
    """Which cases a list shows, as plain values (storage turns it into SQL).
    Merged cases are never listed; ``open_only`` means the open statuses."""

    open_only: bool = False
    statuses: tuple[str, ...] = ()  # any of these (empty: any status)
    assignee_id: int | None = None
    deadline_before: datetime | None = None  # deadline < this
    deadline_from: datetime | None = None  # deadline >= this
    deadline_until: datetime | None = None  # deadline <= this
    year: int | None = None
    channel: str | None = None
    kind: str | None = None
    topic: str | None = None
    number: str | None = None  # a case number, or a day's prefix of numbers (WX20240315)
    tokens: tuple[str, ...] = ()  # every one must be among the case's search tokens
    text_like: str | None = None  # a plain substring of the first message
    # The 督办 view: urged cases (催办/督办, open or answered), and active
    # cases whose deadline is up to this moment (overdue or due soon).
    urged_or_due_until: datetime | None = None
    follow_up_only: bool = False  # answered cases the citizen wrote to since, not replied to yet
    unaccepted_only: bool = False  # 12345 orders not signed for yet


def view_filter(view: str, *, user_id: int | None, now: datetime, due_cutoff: datetime | None) -> CaseFilter:
    """A view as a filter. Every open view starts from the open cases, so
    all of them read the small partial index of open cases."""
    if view == "open":
        return CaseFilter(open_only=True)
    if view in (Status.NEW, Status.WAITING):
        return CaseFilter(open_only=True, statuses=(Status(view),))
    if view == "mine":
        return CaseFilter(open_only=True, assignee_id=user_id)
    if view == "overdue":  # a paused ("waiting") case is not overdue
        return CaseFilter(open_only=True, statuses=ACTIVE_STATUSES, deadline_before=now)
    if view == "due_soon":
        return CaseFilter(open_only=True, statuses=ACTIVE_STATUSES, deadline_from=now,
                          deadline_until=due_cutoff or now)
    if view == "urged":
        return CaseFilter(urged_or_due_until=due_cutoff or now)
    if view == "follow_up":
        return CaseFilter(follow_up_only=True)
    if view == "unaccepted":
        return CaseFilter(open_only=True, unaccepted_only=True)
    if view in (Status.ANSWERED, Status.CLOSED, Status.RETURNED):
        return CaseFilter(statuses=(Status(view),))
    if view == "all":
        return CaseFilter()
    raise ValueError(f"unknown view {view!r}")


class MarkedCase(Protocol):
    status: str
    urged: str | None
    reopened: int | None
    extended_days: int | None
    follow_up_at: datetime | None


def case_marks(case: MarkedCase) -> list[str]:
    """What makes a case stand out in a list: urging, re-handling, an
    extension, a citizen's follow-up after the answer."""
    marks = []
    if case.urged:
        marks.append(case.urged)
    if case.reopened:
        marks.append("重办" if case.reopened == 1 else f"重办{case.reopened}次")
    if case.extended_days:
        marks.append("已延期")
    if case.follow_up_at is not None:
        marks.append("群众追问")
    return marks


class CaseClock(Protocol):
    """What the countdown reads of a case."""

    status: str
    deadline_at: datetime | None
    deadline_error: str | None
    answered_at: datetime | None
    closed_at: datetime | None


@dataclass(frozen=True)
class DeadlineState:
    css: str  # overdue | due_soon | ok | paused | done | unknown | error | none
    label: str  # what staff read
    working_days_left: int | None = None


def deadline_state(case: CaseClock, now: datetime, tz: ZoneInfo, calendar: WorkingCalendar) -> DeadlineState:
    if case.deadline_error and case.deadline_at is None:
        return DeadlineState("error", "无法计算期限：" + case.deadline_error)
    if case.deadline_at is None:
        return DeadlineState("none", "无期限")
    due_day = case.deadline_at.astimezone(tz).date()
    if case.status in ANSWERED_STATUSES:
        if case.answered_at is None:  # imported history without a 办结时间: the report says the same
            return DeadlineState("unknown", "答复时间不详")
        on_time = case.answered_at <= case.deadline_at
        return DeadlineState("done", "按期办结" if on_time else "超期办结")
    if case.status == Status.RETURNED:
        return DeadlineState("none", "已退回，不计期限")
    if case.status == Status.MERGED:
        return DeadlineState("none", "已并入其他案件")
    if case.status == Status.WAITING:
        return DeadlineState("paused", "期限暂停（等待群众补充材料）")
    today = now.astimezone(tz).date()
    try:
        left = calendar.working_days_between(today, due_day)
    except UnknownCalendarYear as exc:
        return DeadlineState("error", str(exc))
    if case.deadline_at < now:
        days_late = max(-left, 0)
        return DeadlineState("overdue", f"已超期 {days_late} 个工作日" if days_late else "已超期", left)
    if left == 0:
        return DeadlineState("due_soon", "今天到期", 0)
    if left <= DUE_SOON_WORKING_DAYS:
        return DeadlineState("due_soon", f"剩余 {left} 个工作日", left)
    return DeadlineState("ok", f"剩余 {left} 个工作日", left)


# ---- WeChat's customer-service window (WECHAT.md) --------------------------

WECHAT_WINDOW = timedelta(hours=48)
WECHAT_WINDOW_MESSAGES = 5


@dataclass(frozen=True)
class WeChatWindow:
    open: bool
    last_in: datetime | None
    closes_at: datetime | None
    used: int
    remaining: int
    advice: str


def wechat_window(last_in: datetime | None, sent_since: int, now: datetime, *, phone: str | None = None) -> WeChatWindow:
    """Whether a customer-service message can reach the citizen now: within
    48 h of their last message, and at most 5 messages in that window."""
    other_way = "可电话联系群众后，选择“其他方式送达”记录答复" if phone else "可等待群众再次留言（窗口随之重新打开）"
    if last_in is None:
        return WeChatWindow(False, None, None, sent_since, 0,
                            "该群众从未通过公众号发送消息，无法发送客服消息；" + other_way + "。")
    closes = last_in + WECHAT_WINDOW
    remaining = max(WECHAT_WINDOW_MESSAGES - sent_since, 0)
    if now >= closes:
        return WeChatWindow(False, last_in, closes, sent_since, 0,
                            "已超过群众最后一条留言后的48小时，微信不再允许发送客服消息。"
                            + other_way + "；已认证服务号也可使用模板消息通知办结。")
    if remaining == 0:
        return WeChatWindow(False, last_in, closes, sent_since, 0,
                            "本次48小时窗口内已发送5条客服消息，达到微信上限。" + other_way + "。")
    return WeChatWindow(True, last_in, closes, sent_since, remaining,
                        f"可以发送：窗口内还可发送 {remaining} 条客服消息。")


def classification_note(classified_by: str, confidence: float | None, reclassified_by: str | None = None) -> str:
    """How a case's kind and topic were set, as staff read it: a staff
    reclassification by who made it (the model's confidence no longer
    matters), otherwise the classifier's source and confidence."""
    if classified_by == "staff":
        return f"人工改分类（{reclassified_by}）" if reclassified_by else "人工改分类"
    source = CLASSIFIED_BY_LABELS.get(classified_by, "自动")
    return f"{source}，置信度 {round((confidence or 0) * 100)}%"
