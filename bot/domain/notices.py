"""Status notices on WeChat (订阅通知): when a WeChat case gets its final
answer or a request for more and the 48-hour customer-service window is
closed, a subscription notice tells the citizen and links to the case's
/track page.

A notice is a template the office picks in the WeChat admin console; its
fields have keys such as ``character_string1`` or ``thing3`` whose prefix
is a type with WeChat's limits (thing: 20 characters; character_string:
32 letters, digits and symbols; phrase: 5 Chinese characters; time: a date
and time...). The configuration maps our values (NOTICE_VALUES) to the
template's keys; ``notice_data`` fits each value to its key's type, since
WeChat refuses the whole notice (47003) for one field out of its rules.
Pure: no I/O.
"""

from __future__ import annotations

import re
from datetime import datetime
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from .vocabulary import ReplyType

OUTBOX_TARGET = "wechat_notice"  # the outbox's name for notices (WeChat's customer-service messages are "wechat")

# What a notice can carry: the case number, the state in a few characters,
# the matter, when, and a short note.
NOTICE_VALUES: tuple[str, ...] = ("number", "status", "title", "time", "note")  # bot/config.py knows them too
# The reply types that send a notice when the window is closed.
NOTIFIED = frozenset({ReplyType.FINAL, ReplyType.REQUEST_INFO})
STATUS_PHRASES = {ReplyType.FINAL: "已答复", ReplyType.REQUEST_INFO: "待补充"}
NOTES = {ReplyType.FINAL: "您的诉求已答复，点击查看", ReplyType.REQUEST_INFO: "请补充材料，点击查看详情"}

_LIMITS = {"thing": 20, "character_string": 32, "phrase": 5, "name": 10, "number": 32, "letter": 32, "symbol": 5}
_CJK = re.compile(r"[\u4e00-\u9fff]")


def values_for(*, number: str, reply_type: str, title: str | None, text: str, at: datetime,
               tz: ZoneInfo) -> dict[str, str]:
    """Our values of a notice for a reply of ``reply_type`` on a case."""
    matter = (title or text or "").strip()
    return {"number": number, "status": STATUS_PHRASES[reply_type], "title": matter,
            "time": at.astimezone(tz).strftime("%Y年%m月%d日 %H:%M"), "note": NOTES[reply_type]}


def fit(key: str, value: str) -> str:
    """``value`` within the rules of a template key's type."""
    kind = key.rstrip("0123456789")
    value = " ".join(value.split())  # no line breaks: WeChat shows one line per field
    if kind == "character_string":
        value = "".join(ch for ch in value if 33 <= ord(ch) < 127)
    elif kind == "phrase":
        value = "".join(_CJK.findall(value))
    elif kind == "number":
        value = "".join(ch for ch in value if ch.isascii() and (ch.isdigit() or ch == "."))
    limit = _LIMITS.get(kind)
    if limit is not None and len(value) > limit:
        value = value[:limit - 1] + "…" if kind == "thing" else value[:limit]
    return value


def notice_data(fields: dict[str, str], values: dict[str, str]) -> dict[str, dict[str, str]]:
    """The ``data`` of a bizsend call: each configured key with its value fitted."""
    return {key: {"value": fit(key, values.get(name, ""))} for name, key in fields.items()}


def track_link(public_url: str | None, number: str, code: str) -> str | None:
    """Where the notice leads: the case's /track page (none without the site's public address)."""
    if not public_url:
        return None
    return public_url.rstrip("/") + "/track?" + urlencode({"number": number, "code": code})
