"""Cases: the rules every channel shares (numbers, deadlines, threading,
the receipt a citizen gets) and ``InboundMessage``, what every channel hands
to the one recording path. Pure: no I/O."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Protocol
from zoneinfo import ZoneInfo

from .answers import AutoAnswer
from .vocabulary import CHANNEL_PREFIX, OPEN_STATUSES, Status
from .workdays import UnknownCalendarYear, WorkingCalendar


def case_number(channel: str, local_day: date, sequence: int) -> str:
    """受理编号, e.g. WX20261125-0001: channel, office-local day, daily sequence."""
    return f"{CHANNEL_PREFIX[channel]}{local_day:%Y%m%d}-{sequence:04d}"


def local_day(moment: datetime, tz: ZoneInfo) -> date:
    return moment.astimezone(tz).date()


def deadline_for(
    received_at: datetime, days: int, tz: ZoneInfo, calendar: WorkingCalendar
) -> datetime:
    """End of the ``days``-th working day after receipt, in the office's time
    zone, as UTC. Raises UnknownCalendarYear when the calendar can't tell."""
    last_day = calendar.add_working_days(local_day(received_at, tz), days)
    return datetime.combine(last_day, time(23, 59, 59), tz).astimezone(timezone.utc)


@dataclass(frozen=True, slots=True)
class Deadline:
    due_at: datetime | None
    days: int
    error: str | None = None  # why it could not be computed: shown to admins


def compute_deadline(
    received_at: datetime, days: int, tz: ZoneInfo, calendar: WorkingCalendar
) -> Deadline:
    try:
        return Deadline(deadline_for(received_at, days, tz, calendar), days)
    except UnknownCalendarYear as exc:
        return Deadline(None, days, str(exc))


def joins_open_case(
    last_message_at: datetime, status: str, now: datetime, window: timedelta
) -> bool:
    """Consecutive messages join the sender's open case: within ``window`` of
    their last message, or any time while the office waits for them."""
    if status not in OPEN_STATUSES:
        return False
    return status == Status.WAITING or now - last_message_at <= window


# ---- replies to the citizen -------------------------------------------------

RECEIPT_BY_KIND: dict[str, str] = {
    "consultation": "您的咨询已收到，受理编号 {number}，我们将在{days}个工作日内答复。",
    "help": "您的求助已收到，受理编号 {number}，我们将在{days}个工作日内联系您办理。",
    "complaint": "您反映的问题已登记，受理编号 {number}，我们将在{days}个工作日内核实处理并答复。",
    "report": "您的举报已登记，受理编号 {number}，我们将依法核查，在{days}个工作日内反馈。我们会为举报人保密。",
    "suggestion": "感谢您的建议，受理编号 {number}，我们会认真研究，并在{days}个工作日内答复。",
    "praise": "感谢您的肯定与鼓励！受理编号 {number}，我们会转达相关工作人员。",
    "disclosure_request": (
        "您的政府信息公开申请已收到，受理编号 {number}。依据《政府信息公开条例》第二十九条，"
        "申请需写明：申请人姓名或名称、身份证明、联系方式；所需信息的名称、文号或特征性描述；"
        "获取信息的方式（纸质、电子邮件等）。工作人员将与您确认收到申请的日期，并在{days}个工作日内答复。"
    ),
    "other": "您的留言已收到，受理编号 {number}。如需咨询、求助或反映问题，请直接描述具体事项。",
}
JOINED_TEXT = "补充内容已收到，已并入受理编号 {number}。"
MEDIA_RECEIPT = "您发送的{what}已收到，受理编号 {number}。如有需要说明的情况，请用文字补充。"
MEDIA_LABELS = {
    "image": "图片", "voice": "语音", "video": "视频", "shortvideo": "小视频",
    "location": "位置", "link": "链接", "file": "文件",
}
UNKNOWN_TYPE_TEXT = "暂不支持此类消息，您的留言已记录，受理编号 {number}。请用文字描述您要咨询或反映的事项。"
WELCOME_TEXT = (
    "感谢关注！您可以在这里：\n"
    "1. 咨询人防工程、人防车位、防空警报、易地建设费等政策；\n"
    "2. 反映问题、投诉举报、提出建议；\n"
    "3. 申请政府信息公开。\n"
    "直接发送文字即可，我们会给出受理编号并在规定时限内答复。紧急情况请拨打110或12345。"
)
NO_DEADLINE_SUFFIX = "我们将尽快答复。"


def receipt_text(
    *, kind: str, number: str, days: int, joined: bool, msg_type: str = "text", has_deadline: bool = True
) -> str:
    if joined:
        return JOINED_TEXT.format(number=number)
    if msg_type in MEDIA_LABELS:
        return MEDIA_RECEIPT.format(what=MEDIA_LABELS[msg_type], number=number)
    if msg_type == "unknown":
        return UNKNOWN_TYPE_TEXT.format(number=number)
    text = RECEIPT_BY_KIND.get(kind, RECEIPT_BY_KIND["other"]).format(number=number, days=days)
    if not has_deadline:
        text = re.sub(r"[，,]?(并)?在\d+个工作日内", "，", text).replace("，，", "，")
    return text


class Routing(Protocol):
    """What the classifier decided about a text (``nlp.labels.Classification``
    has this shape; the domain does not depend on nlp)."""

    kind: str
    topic: str
    confidence: float
    matched: tuple[str, ...]
    needs_review: bool
    source: str  # rules | model | combined | feed | staff
    secondary_kind: str | None  # a second request in the same text, or the kind not ruled out

    def as_dict(self) -> dict: ...


@dataclass(slots=True)
class InboundMessage:
    """One message from a citizen on any channel, ready to be recorded."""

    channel: str
    identity: str  # WeChat OpenID, phone, e-mail, or a name for letters
    received_at: datetime  # aware
    text: str
    classification: Routing
    msg_type: str = "text"
    dedupe_key: str | None = None  # retries of the same delivery share it
    external_id: str | None = None  # e.g. the 12345 工单编号
    raw: str | None = None
    contact_name: str | None = None
    contact_phone: str | None = None
    applicant_type: str | None = None
    deadline_at: datetime | None = None  # when the source fixes it (12345 办理时限)
    thread: bool = False  # may join the sender's open case
    passive_reply: bool = False  # the reply goes back in the same HTTP exchange (WeChat)
    title: str | None = None
    extra: dict = field(default_factory=dict)
    # A knowledge-base answer (issue 7): the reply is the answer plus the case
    # number, and a new case it alone opens is answered on the spot unless a
    # person must follow up.
    auto_answer: AutoAnswer | None = None
    # A reply of the caller's own, "{number}" standing for the case number
    # (the disclosure dialog's first question).
    reply_template: str | None = None
    # Typed in by staff (the API's manual entry): who, for the audit trail.
    entered_by: str | None = None
    # Imported history: who imported it, the state it is in (closed unless the
    # file says otherwise) and when it was settled (办结时间, when known).
    imported_by: str | None = None
    initial_status: str | None = None
    settled_at: datetime | None = None
    # A 12345 order: signed for (签收) as it is recorded, the platform told,
    # in this handler's name; or already signed for before (imported history).
    sign_for: str | None = None
    accepted_at: datetime | None = None
    # A new case's 查询码, as its keyed hash (bot/domain/tracking.py), and the
    # writer's consent to publish the answer (the web letter box): written
    # with the case, in the recording's transaction.
    tracking_code_hash: str | None = None
    publish_consent: bool = False

    def __post_init__(self) -> None:
        # contacts.identity holds 128 characters; a longer one (a long name
        # used as identity) is kept as its digest, stable across deliveries.
        if len(self.identity) > 128:
            self.identity = "sha256:" + hashlib.sha256(self.identity.encode()).hexdigest()
