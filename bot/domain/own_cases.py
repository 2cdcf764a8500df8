"""A citizen looking up their own cases on WeChat (`查询`, `查询 <受理编号>`,
or the menu button that sends the same), as rules: which texts are the
command, what a case number looks like, and the replies, each within
WeChat's 2000 UTF-8 bytes. Only the sender's own cases are ever shown: an
unknown number, a malformed one and another person's get one same answer.
Pure: bot/services/wechat.py reads the cases."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from .masking import mask_text
from .vocabulary import KIND_LABELS, STATUS_LABELS

COMMAND = "查询"
MENU_KEY = "my-cases"  # the CLICK key of the menu button that sends `查询` (deploy/wechat_menu.yaml)
RECENT_LIMIT = 5
MAX_REPLY_BYTES = 1900  # WeChat's limit is 2000; room for what the XML adds
# `查询` alone, or followed by text with no Chinese in it (a case number, or
# something typed wrong); "查询一下人防车位…" is an ordinary message.
_COMMAND = re.compile(r"查询(?:[\s:：#]*([^\u3400-\u9fff\uf900-\ufaff]{1,64}))?")
NUMBER = re.compile(r"[A-Z]{2}\d{8}-\d{4,6}")

NONE_YET = "没有查到您在本公众号提交的办件。直接发送您的诉求即可登记，回复中会给出受理编号。"
NOT_FOUND = ("没有查到这个受理编号的办件。本公众号只能查询您本人用这个微信提交的办件；"
             "请核对编号（例如：查询 WX20260105-0001），或回复“查询”列出您最近的办件。")
LIST_HEAD = "您最近的办件（最多{limit}件）："
LIST_FOOT = "回复“查询 受理编号”查看详情，例如：查询 {number}"
NO_REPLY_YET = "答复：暂无，工作人员正在办理。"
CUT = "……（内容较长，未全部显示）"


@dataclass(frozen=True)
class Query:
    number: str | None  # None: the list of recent cases
    well_formed: bool = True


def parse(text: str) -> Query | None:
    """The command in a text (None: not the command)."""
    text = unicodedata.normalize("NFKC", text).strip()
    m = _COMMAND.fullmatch(text)
    if m is None:
        return None
    arg = m.group(1)
    if not arg:
        return Query(None)
    number = re.sub(r"\s+", "", arg).upper()
    return Query(number, bool(NUMBER.fullmatch(number)))


@dataclass(frozen=True)
class CaseLine:
    number: str
    status: str
    kind: str
    received_at: datetime


@dataclass(frozen=True)
class Reply:
    text: str
    at: datetime


@dataclass(frozen=True)
class CaseDetail:
    number: str
    status: str
    kind: str
    received_at: datetime
    deadline_at: datetime | None
    answered_at: datetime | None
    replies: list[Reply]  # sent to the citizen by staff, oldest first


def cn_day(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def _local(moment: datetime, tz: ZoneInfo) -> date:
    return moment.astimezone(tz).date()


def _nbytes(s: str) -> int:
    return len(s.encode("utf-8"))


def list_text(cases: list[CaseLine], tz: ZoneInfo) -> str:
    if not cases:
        return NONE_YET
    lines = [LIST_HEAD.format(limit=RECENT_LIMIT)]
    for i, c in enumerate(cases, 1):
        lines.append(f"{i}. {c.number} {STATUS_LABELS.get(c.status, c.status)}"
                     f"（{KIND_LABELS.get(c.kind, c.kind)}，{cn_day(_local(c.received_at, tz))}受理）")
    lines.append(LIST_FOOT.format(number=cases[0].number))
    return "\n".join(lines)


def detail_text(case: CaseDetail, tz: ZoneInfo) -> str:
    """Status, dates and the replies sent (newest kept when space runs out);
    phone and ID numbers in replies masked, no staff names, no notes."""
    head = [f"受理编号：{case.number}", f"类型：{KIND_LABELS.get(case.kind, case.kind)}",
            f"状态：{STATUS_LABELS.get(case.status, case.status)}",
            f"受理日期：{cn_day(_local(case.received_at, tz))}"]
    if case.deadline_at is not None and case.answered_at is None:
        head.append(f"办理期限：{cn_day(_local(case.deadline_at, tz))}前")
    if case.answered_at is not None:
        head.append(f"答复日期：{cn_day(_local(case.answered_at, tz))}")
    text = "\n".join(head)
    if not case.replies:
        return text + "\n" + NO_REPLY_YET
    budget = MAX_REPLY_BYTES - _nbytes(text) - _nbytes("\n答复：")
    shown: list[str] = []
    for reply in reversed(case.replies):  # newest first until the space is used
        block = f"【{cn_day(_local(reply.at, tz))}】{mask_text(reply.text.strip())}"
        cost = _nbytes(block) + 1
        if cost > budget:
            if not shown:  # the newest alone is too long: its beginning
                shown.append(_cut(block, budget - 1))
            else:
                shown.append(CUT)
            break
        shown.append(block)
        budget -= cost
    return text + "\n答复：\n" + "\n".join(reversed(shown))


def _cut(text: str, max_bytes: int) -> str:
    room = max_bytes - _nbytes(CUT)
    out = text.encode("utf-8")[:max(room, 0)].decode("utf-8", errors="ignore")
    return out + CUT
