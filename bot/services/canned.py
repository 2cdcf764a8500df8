"""Canned replies: ready-made answers staff pick and edit before sending."""

from __future__ import annotations

from datetime import datetime, timezone

from bot.domain.actors import Actor
from bot.domain.errors import InvalidInput, NotFound
from bot.domain.vocabulary import REPLY_TYPES, ReplyType
from storage.database import Tx
from storage.models import CannedReply
from storage.queries import audit
from storage.queries import cases as q

from .runtime import Runtime

MAX_TITLE, MAX_TEXT = 100, 2000


async def all_replies(rt: Runtime) -> list[CannedReply]:
    return await rt.db.read(lambda tx: q.canned_replies(tx.session))


async def save(rt: Runtime, actor: Actor, *, reply_id: int | None, title: str, text: str, active: bool,
               reply_type: str = ReplyType.FINAL) -> None:
    """``reply_type``: what sending it does (final answer, progress, a
    request for more), preselected when staff pick it."""
    title, text = (title or "").strip(), (text or "").strip()
    if reply_type not in REPLY_TYPES:
        raise InvalidInput("请选择答复类型", "reply_type")
    if not title or len(title) > MAX_TITLE:
        raise InvalidInput(f"标题不能为空，且不超过{MAX_TITLE}字", "title")
    if not text or len(text) > MAX_TEXT:
        raise InvalidInput(f"内容不能为空，且不超过{MAX_TEXT}字（微信消息有长度限制）", "text")

    def write(tx: Tx) -> None:
        s = tx.session
        if reply_id is not None:
            item = s.get(CannedReply, reply_id)
            if item is None:
                raise NotFound("没有这条常用答复", "id")
        else:
            item = CannedReply(title=title, text=text, active=True)
            s.add(item)
        item.title, item.text, item.active, item.reply_type = title, text, active, reply_type
        item.updated_by, item.updated_at = actor.label, datetime.now(timezone.utc)
        s.flush()
        audit.add(s, actor.label, "canned.saved", id=item.id, title=title, reply_type=reply_type)

    await rt.db.write(write)
