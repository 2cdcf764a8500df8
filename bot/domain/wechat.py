"""A WeChat push (message or event) as the product reads it, and what it
means: its retry identity, the text it puts in a case's thread, its time.
Read off the XML by handlers/common/wechat_protocol.py. Pure: no I/O.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any


@dataclass(frozen=True, slots=True)
class Push:
    msg_type: str  # MsgType as sent, in lower case: text, image, voice, …, event
    source: str  # FromUserName: the citizen's OpenID
    target: str  # ToUserName: the account
    # An event's name in lower case, as wechatpy names it (subscribe_scan for
    # a subscribe through a qrscene_ code); None for a message.
    event: str | None
    fields: Mapping[str, Any]  # every element as read (xmltodict's shape), Event/EventKey as above
    raw: str  # the message's XML, kept with the message

    @property
    def is_event(self) -> bool:
        return self.event is not None

    def text(self, name: str) -> str:
        """A text field, "" when absent or empty (an element that also has
        attributes or children gives its own text)."""
        value = self.fields.get(name)
        if isinstance(value, dict):
            value = value.get("#text")
        return value if isinstance(value, str) else ""

    @property
    def content(self) -> str:
        return self.text("Content")

    @property
    def recognition(self) -> str:
        return self.text("Recognition")

    @property
    def event_key(self) -> str:
        return self.text("EventKey")

    @property
    def msg_id(self) -> str:
        return self.text("MsgId") or self.text("MsgID")  # template/mass-send reports spell it MsgID


EARLIEST_CREATE_TIME = datetime(2011, 1, 1, tzinfo=timezone.utc)  # before WeChat existed
MAX_CLOCK_SKEW = timedelta(days=1)


def received_at(push: Push, now: datetime | None = None) -> datetime:
    """When WeChat says it was sent (CreateTime), or now when that is
    unusable: not a number, before WeChat existed, or more than a day in
    the future (a year-9999 CreateTime would have no deadline to count to)."""
    now = now or datetime.now(timezone.utc)
    try:
        sent = datetime.fromtimestamp(int(push.fields["CreateTime"]), timezone.utc)
    except (KeyError, TypeError, ValueError, OverflowError, OSError):
        return now
    if not EARLIEST_CREATE_TIME <= sent <= now + MAX_CLOCK_SKEW:
        return now
    return sent


def message_key(push: Push) -> str:
    """WeChat's retry identity (WECHAT.md): (ToUserName, FromUserName, MsgId)
    for messages, (FromUserName, CreateTime, Event, EventKey) for events."""
    msg_id = push.msg_id
    if not push.is_event and msg_id:
        return _bounded(f"wx:{push.target}:{push.source}:{msg_id}")
    f = push.fields
    return _bounded(f"wxe:{push.source}:{f.get('CreateTime', '')}:{f.get('Event', f.get('MsgType', ''))}:"
                    f"{f.get('EventKey', '')}")


MAX_KEY = 200  # the dedupe key's column (PostgreSQL enforces it; SQLite would not)


def _bounded(key: str) -> str:
    """The key as it is, or, past the column's width (an event key of 300
    characters), its prefix and a SHA-256 of the whole: the same push gives
    the same key, two different ones different keys."""
    if len(key) <= MAX_KEY:
        return key
    return f"{key[:3]}h:{hashlib.sha256(key.encode('utf-8', 'surrogatepass')).hexdigest()}"


def message_text(push: Push) -> tuple[str, str]:
    """(text for the case's thread, message type) of any message."""
    kind = push.msg_type
    if kind == "text":
        return push.content, "text"
    if kind == "voice":
        return (f"[语音] {push.recognition}" if push.recognition else "[语音]"), "voice"
    if kind == "image":
        return f"[图片] {push.text('PicUrl')}".strip(), "image"
    if kind in ("video", "shortvideo"):
        return "[视频]", kind
    if kind == "location":
        f = push.fields
        return f"[位置] {push.text('Label')} ({f.get('Location_X', '')}, {f.get('Location_Y', '')})", "location"
    if kind == "link":
        return f"[链接] {push.text('Title')} {push.text('Url')}".strip(), "link"
    return f"[暂不支持的消息类型: {push.fields.get('MsgType', '?')}]", "unknown"


def question(push: Push) -> str | None:
    """The words of a text, or of a voice message WeChat recognised."""
    if push.msg_type == "text":
        return push.content.strip() or None
    if push.msg_type == "voice":
        return push.recognition.strip() or None
    return None
