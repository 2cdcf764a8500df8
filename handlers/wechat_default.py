"""The WeChat pushes every account handles: messages become cases (or join
the sender's open case), follows get the welcome text, events are kept for
the record. Included last: the features before it answer first."""

from __future__ import annotations

from bot.domain.wechat import Push
from bot.services import wechat
from bot.services.runtime import Runtime

from .common.wechat_router import Router

async def on_noise(push: Push, rt: Runtime) -> None:
    # Frequent and informational (LOCATION can come every 5 s): nothing stored.
    return None


async def on_subscription(push: Push, rt: Runtime) -> str | None:
    return await wechat.note_subscription(rt, push, subscribed=push.event != "unsubscribe")


async def on_other_event(push: Push, rt: Runtime) -> None:
    # CLICK, SCAN and events we don't know yet: kept for the record, no case.
    await wechat.keep_event(rt, push)


async def on_text(push: Push, rt: Runtime) -> str:
    return await wechat.record_message(rt, push)


async def on_message(push: Push, rt: Runtime) -> str:
    return await wechat.record_message(rt, push)


def router() -> Router:
    """A fresh router with these handlers, in this order."""
    r = Router("default")
    r.event("location", "view", "templatesendjobfinish", "masssendjobfinish")(on_noise)
    r.event("subscribe", "subscribe_scan", "unsubscribe")(on_subscription)
    r.event()(on_other_event)
    r.text()(on_text)
    r.message()(on_message)
    return r
