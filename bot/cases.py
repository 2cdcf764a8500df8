"""Cases: the domain rules every channel shares. Pure functions, no I/O."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from nlp.base import KIND_LABELS, KINDS, TOPICS, Classification

from .answers import AutoAnswer
from .workdays import UnknownCalendarYear, WorkingCalendar

CHANNELS: tuple[str, ...] = (
    "wechat", "hotline", "portal", "platform", "letter", "in_person", "phone", "email", "other",
)
CHANNEL_LABELS: dict[str, str] = {
    "wechat": "微信公众号",
    "hotline": "12345热线",
    "portal": "门户网站",
    "platform": "政府互动平台",
    "letter": "信函",
    "in_person": "来访",
    "phone": "电话",
    "email": "电子邮件",
    "other": "其他",
}
# Two letters, read aloud easily over the phone: 微信 WX, 热线 RX, 网站 WZ, 平台 PT,
# 信函 XH, 来访 LF, 电话 DH, 邮件 YJ, 其他 QT.
CHANNEL_PREFIX: dict[str, str] = {
    "wechat": "WX", "hotline": "RX", "portal": "WZ", "platform": "PT", "letter": "XH",
    "in_person": "LF", "phone": "DH", "email": "YJ", "other": "QT",
}

STATUSES: tuple[str, ...] = ("new", "assigned", "in_progress", "waiting", "answered", "closed")
STATUS_LABELS: dict[str, str] = {
    "new": "新收", "assigned": "已分派", "in_progress": "办理中",
    "waiting": "待群众补充", "answered": "已答复", "closed": "已办结",
}
OPEN_STATUSES: frozenset[str] = frozenset({"new", "assigned", "in_progress", "waiting"})
ANSWERED_STATUSES: frozenset[str] = frozenset({"answered", "closed"})

APPLICANT_TYPES: tuple[str, ...] = (
    "natural_person", "commercial", "research", "public_welfare", "legal_service", "other_org",
)

KIND_LABELS = KIND_LABELS  # re-exported for templates


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
    return status == "waiting" or now - last_message_at <= window


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


# ---- masking (个人信息保护法: show the minimum) -----------------------------

_PHONE = re.compile(r"(?<!\d)(1[3-9]\d)(\d{4})(\d{4})(?!\d)")
_ID = re.compile(r"(?<![0-9Xx])(\d{6})(\d{8})(\d{3}[0-9Xx])(?![0-9Xx])")


def mask_phone(phone: str | None) -> str | None:
    if not phone:
        return phone
    digits = phone.strip()
    if len(digits) >= 7:
        return digits[:3] + "****" + digits[-4:]
    return "****"


def mask_id_number(value: str | None) -> str | None:
    if not value:
        return value
    v = value.strip()
    return v[:6] + "*" * max(len(v) - 10, 4) + v[-4:] if len(v) > 10 else "*" * len(v)


def mask_text(text: str) -> str:
    """Mask phone and ID numbers that citizens type into free text."""
    text = _ID.sub(lambda m: m.group(1) + "********" + m.group(3), text)
    return _PHONE.sub(lambda m: m.group(1) + "****" + m.group(3), text)


def validate_kind(kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}")
    return kind


def validate_topic(topic: str) -> str:
    if topic not in TOPICS:
        raise ValueError(f"unknown topic {topic!r}")
    return topic


@dataclass(slots=True)
class InboundMessage:
    """One message from a citizen on any channel, ready to be recorded."""

    channel: str
    identity: str  # WeChat OpenID, phone, e-mail, or a name for letters
    received_at: datetime  # aware
    text: str
    classification: Classification
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

    def __post_init__(self) -> None:
        # contacts.identity holds 128 characters; a longer one (a long name
        # used as identity) is kept as its digest, stable across deliveries.
        if len(self.identity) > 128:
            self.identity = "sha256:" + hashlib.sha256(self.identity.encode()).hexdigest()
