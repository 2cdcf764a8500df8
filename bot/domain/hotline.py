"""The 12345 hotline in the product's terms: a work order and its
validation, the InboundMessage it becomes, the platform's events on an
order's life, and the messages we send back (as neutral dicts: the wire
format is bot/domain/hotline_wire.py's alone). Pure: no I/O.

Used by the push and event services (bot/services/hotline.py), the
spreadsheet import (bot/services/imports.py) and the lifecycle services.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from .cases import InboundMessage, Routing, compute_deadline
from .errors import InvalidInput
from .text import unstorable_text
from .vocabulary import HOTLINE_REQUEST_TYPES, Channel
from .workdays import WorkingCalendar

CHANNEL = Channel.HOTLINE
# The 诉求类型 a work order may carry (INTERFACES.md).
REQUEST_TYPES = HOTLINE_REQUEST_TYPES
MAX_ORDER_ID = 64
MAX_TITLE = 300
MAX_CONTENT = 20000
MAX_FUTURE = timedelta(minutes=5)  # clocks differ a little; orders from the future don't exist


# ---- times ------------------------------------------------------------------

_LOCAL_TIME = re.compile(
    r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?(?:[ T]+(\d{1,2})[:：时](\d{1,2})(?:[:：分](\d{1,2})(?:\.\d+)?)?秒?)?$"
)


class InvalidTime(ValueError):
    pass


def parse_time(value: object, tz: ZoneInfo, *, end_of_day: bool = False) -> datetime:
    """An aware UTC time from ISO 8601 text, the spreadsheet forms
    ``2020-03-15 09:21[:00]`` / ``2020/3/15 9:21``, or a spreadsheet date cell.
    Without an offset the time is in the office's time zone; a bare date
    means its start (or its end, for deadlines)."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time(23, 59, 59) if end_of_day else time(0, 0))
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
            if end_of_day and len(text) == 10:  # a bare ISO date
                moment = moment.replace(hour=23, minute=59, second=59)
        except ValueError:
            m = _LOCAL_TIME.match(text)
            if not m:
                raise InvalidTime(f"不是有效的时间：{text!r}") from None
            y, mo, d, h, mi, s = (int(g) if g else None for g in m.groups())
            try:
                if h is None:
                    moment = datetime.combine(date(y, mo, d), time(23, 59, 59) if end_of_day else time(0, 0))
                else:
                    moment = datetime(y, mo, d, h, mi or 0, s or 0)
            except ValueError:
                raise InvalidTime(f"不是有效的时间：{text!r}") from None
    elif value is None or (isinstance(value, str) and not value.strip()):
        raise InvalidTime("时间为空")
    else:
        raise InvalidTime(f"不是有效的时间：{value!r}（应为 ISO 8601，例如 2020-03-15T09:21:00+08:00）")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    if not 1990 <= moment.year <= 2100:
        raise InvalidTime(f"年份不合理：{moment.year}")
    return moment.astimezone(timezone.utc)


# ---- work orders -------------------------------------------------------------

class OrderError(InvalidInput):
    """A work order refused: the message is for the platform's operators."""


@dataclass(frozen=True, slots=True)
class HotlineOrder:
    order_id: str
    received_at: datetime  # UTC
    content: str
    request_type: str | None = None
    title: str | None = None
    caller_name: str | None = None
    caller_phone: str | None = None
    deadline_at: datetime | None = None  # UTC; the platform's 办理时限
    deadline_days: int | None = None  # a 办理时限 given as a number of working days

    @property
    def kind(self) -> str | None:
        return REQUEST_TYPES[self.request_type] if self.request_type else None


def _text(value: object, field: str, *, required: bool = False, max_len: int = MAX_CONTENT) -> str | None:
    if value is None:
        if required:
            raise OrderError(f"缺少字段 {field}", field)
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise OrderError(f"{field} 必须是字符串", field)
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a spreadsheet number cell holding an id or phone
    text = str(value).strip()
    if not text:
        if required:
            raise OrderError(f"{field} 不能为空", field)
        return None
    if len(text) > max_len:
        raise OrderError(f"{field} 过长（最多 {max_len} 字）", field)
    if unstorable_text(text):  # a NUL from a file or a push: refused on both databases
        raise OrderError(f"{field} 含有无法保存的字符（如 NUL 空字符）", field)
    return text


def make_order(
    *, order_id: object, received_at: object, content: object, request_type: object = None, title: object = None,
    caller_name: object = None, caller_phone: object = None, deadline: object = None, tz: ZoneInfo,
    now: datetime | None = None, names: dict[str, str] | None = None,
) -> HotlineOrder:
    """Validate one order's fields, whatever their source (push or file).
    ``names`` maps field names to how the source calls them, for errors."""
    names = {"order_id": "order_id", "received_at": "received_at", "content": "content",
             "request_type": "request_type", "title": "title", "caller_name": "caller_name",
             "caller_phone": "caller_phone", "deadline": "deadline", **(names or {})}
    oid = _text(order_id, names["order_id"], required=True, max_len=MAX_ORDER_ID)
    if received_at is None or (isinstance(received_at, str) and not received_at.strip()):
        raise OrderError(f"缺少字段 {names['received_at']}", names["received_at"])
    try:
        received = parse_time(received_at, tz)
    except InvalidTime as exc:
        raise OrderError(f"{names['received_at']} {exc}", names["received_at"]) from None
    now = now or datetime.now(timezone.utc)
    if received - now > MAX_FUTURE:
        raise OrderError(f"{names['received_at']} 不能晚于当前时间", names["received_at"])
    body = _text(content, names["content"], required=True)
    rtype = _text(request_type, names["request_type"], max_len=20)
    if rtype is not None and rtype not in REQUEST_TYPES:
        raise OrderError(
            f"未知的诉求类型 {rtype!r}，应为 {'、'.join(REQUEST_TYPES)} 之一", names["request_type"]
        )
    deadline_at, deadline_days = None, None
    if deadline is not None and not (isinstance(deadline, str) and not deadline.strip()):
        if isinstance(deadline, (int, float)) and not isinstance(deadline, bool) or (
            isinstance(deadline, str) and deadline.strip().isdigit()
        ):
            try:
                deadline_days = int(float(deadline))
            except (ValueError, OverflowError):  # 1e400, nan
                raise OrderError(f"{names['deadline']} 工作日数不合理：{deadline}", names["deadline"]) from None
            if not 0 < deadline_days <= 365:
                raise OrderError(f"{names['deadline']} 工作日数不合理：{deadline}", names["deadline"])
        else:
            try:
                deadline_at = parse_time(deadline, tz, end_of_day=True)
            except InvalidTime as exc:
                raise OrderError(f"{names['deadline']} {exc}", names["deadline"]) from None
            if deadline_at < received:
                raise OrderError(f"{names['deadline']} 早于来电时间", names["deadline"])
    return HotlineOrder(
        order_id=oid, received_at=received, content=body, request_type=rtype,
        title=_text(title, names["title"], max_len=MAX_TITLE),
        caller_name=_text(caller_name, names["caller_name"], max_len=200),
        caller_phone=_text(caller_phone, names["caller_phone"], max_len=32),
        deadline_at=deadline_at, deadline_days=deadline_days,
    )


def routing_text(order: HotlineOrder) -> str:
    """What the classifier reads of an order: its title and content."""
    return f"{order.title}\n{order.content}" if order.title else order.content


def to_inbound(
    order: HotlineOrder, classification: Routing, *, channel: str = CHANNEL, raw: object = None,
    topic: str | None = None, calendar: WorkingCalendar | None = None, tz: ZoneInfo | None = None,
    sign_for: str | None = None, accepted_at: datetime | None = None,
) -> InboundMessage:
    """The order as the one recording path takes it. ``classification`` is of
    ``routing_text(order)`` with the platform's 诉求类型 (or the file's kind)
    as the hint: the classifier only adds the topic. ``topic`` comes from our
    own export and wins over the classifier's."""
    if topic and topic != classification.topic:
        classification = replace(classification, topic=topic, source="feed")
    deadline_at = order.deadline_at
    if order.deadline_days and calendar is not None and tz is not None:
        deadline_at = compute_deadline(order.received_at, order.deadline_days, tz, calendar).due_at
    identity = order.caller_phone or (f"name:{order.caller_name}" if order.caller_name else f"order:{order.order_id}")
    return InboundMessage(
        channel=channel, identity=identity, received_at=order.received_at, text=order.content,
        classification=classification, external_id=order.order_id,
        raw=raw if raw is None or isinstance(raw, str) else json.dumps(raw, ensure_ascii=False, default=str),
        contact_name=order.caller_name, contact_phone=order.caller_phone,
        deadline_at=deadline_at, title=order.title, sign_for=sign_for, accepted_at=accepted_at,
    )


# ---- the platform's events on an order's life ----------------------------------

# 催办, 督办, 回访结果, 重办, the answers to our 延期 and 退回 requests, 撤单.
EVENT_TYPES: tuple[str, ...] = ("urge", "supervise", "rating", "redo", "extension_result", "return_result", "cancel")


@dataclass(frozen=True)
class HotlineEvent:
    event_id: str  # the platform's: an event applied once however often it comes
    order_id: str
    type: str  # one of EVENT_TYPES
    at: datetime  # UTC
    fields: dict  # urge/supervise: note; rating: score, comment; redo: reason, deadline;
    #               extension_result: approved, deadline, reason; return_result: approved, reason; cancel: reason


# ---- messages to the platform ------------------------------------------------
# Neutral dicts, stored in the outbox as they are (times in UTC, ISO 8601);
# hotline_wire.encode_message makes them what the platform reads.

def _at(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")


def accepted_message(*, order_id: str, accepted_at: datetime, handler: str) -> dict:
    """签收: the unit has taken the order."""
    return {"type": "accepted", "order_id": order_id, "accepted_at": _at(accepted_at), "handler": handler}


def progress_message(*, order_id: str | None, reply: str, replied_at: datetime) -> dict:
    """阶段性答复: a reply that is not the answer (progress, a request for more)."""
    return {"type": "progress", "order_id": order_id, "reply": reply, "replied_at": _at(replied_at)}


def extension_request_message(*, order_id: str, working_days: int, reason: str, requested_at: datetime) -> dict:
    return {"type": "extension_request", "order_id": order_id, "working_days": working_days, "reason": reason,
            "requested_at": _at(requested_at)}


def return_request_message(*, order_id: str, reason: str, basis: str, requested_at: datetime) -> dict:
    return {"type": "return_request", "order_id": order_id, "reason": reason, "basis": basis,
            "requested_at": _at(requested_at)}


def result_message(*, order_id: str | None, status: str, reply: str, replied_at: datetime,
                   handler: str | None) -> dict:
    """办结: the answer (or the closing) of the order."""
    return {"type": "result", "order_id": order_id, "status": status, "reply": reply,
            "replied_at": _at(replied_at), "handler": handler}


def is_result(message: dict) -> bool:
    """A delivery that reports the order settled (those queued before the
    lifecycle carry no type: they were all results)."""
    return message.get("type", "result") == "result"
