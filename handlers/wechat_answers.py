"""Instant answers on the WeChat account: keyword rules, the knowledge base
and menu clicks, ahead of the default handlers (and behind the disclosure
dialog). A keyword rule's reply and a click's answer open no case; a
knowledge-base answer comes with a case number."""

from __future__ import annotations

from bot.domain.wechat import Push
from bot.services import wechat
from bot.services.runtime import Runtime

from .common.wechat_router import UNHANDLED, Router


async def on_text(push: Push, rt: Runtime):
    reply = await wechat.answer_question(rt, push)
    return UNHANDLED if reply is None else reply  # unknown: the default handler gives the receipt


async def on_voice(push: Push, rt: Runtime):
    reply = await wechat.answer_question(rt, push)
    return UNHANDLED if reply is None else reply


async def on_click(push: Push, rt: Runtime):
    reply = await wechat.answer_click(rt, push)
    # Not a knowledge-base key (withdrawn since, or out of its dates): kept by the default handler.
    return UNHANDLED if reply is None else reply


def router() -> Router:
    """A fresh router with these handlers, in this order."""
    r = Router("answers")
    r.text()(on_text)
    r.message("voice")(on_voice)
    r.event("click")(on_click)
    return r
