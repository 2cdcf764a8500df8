"""The WeChat router, after aiogram 3: one observer per kind of push,
filters, a router's own handlers before its sub-routers, UNHANDLED passing
a push on, and clear errors on misuse."""

from __future__ import annotations

import pytest

from bot.domain.wechat import Push
from handlers.common.wechat_router import UNHANDLED, Router


def push(msg_type: str = "text", *, event: str | None = None, content: str = "", source: str = "oA") -> Push:
    fields = {"MsgType": msg_type, "FromUserName": source, "ToUserName": "gh", "Content": content}
    return Push(msg_type, source, "gh", event, fields, "<xml/>")


def answer(text):
    async def handler(p, rt):
        return text
    return handler


async def test_each_kind_of_push_reaches_its_own_observer():
    r = Router("r")
    r.text()(answer("text"))
    r.message("image", "VOICE")(answer("media"))
    r.message()(answer("other message"))
    r.event("subscribe", "subscribe_scan")(answer("welcome"))
    r.event()(answer("other event"))
    assert await r.propagate(push("text"), None) == "text"
    assert await r.propagate(push("voice"), None) == "media"
    assert await r.propagate(push("location"), None) == "other message"
    assert await r.propagate(push("event", event="subscribe_scan"), None) == "welcome"
    assert await r.propagate(push("event", event="click"), None) == "other event"


async def test_filters_and_unhandled_pass_a_push_on():
    r = Router("r")
    r.text(lambda p: p.content.startswith("#"))(answer("tag"))

    async def not_mine(p, rt):
        return UNHANDLED

    r.text()(not_mine)
    r.text()(answer("fallback"))
    assert await r.propagate(push(content="#siren"), None) == "tag"
    assert await r.propagate(push(content="plain"), None) == "fallback"
    assert await Router("empty").propagate(push(), None) is UNHANDLED


async def test_a_routers_own_handlers_come_before_its_sub_routers_in_order():
    root, first, second = Router("root"), Router("first"), Router("second")
    second.text()(answer("second"))
    first.text(lambda p: p.source == "oFirst")(answer("first"))
    root.include_router(first)
    root.include_router(second)
    assert await root.propagate(push(source="oFirst"), None) == "first"
    assert await root.propagate(push(source="oOther"), None) == "second"
    root.text(lambda p: p.source == "oFirst")(answer("root"))
    assert await root.propagate(push(source="oFirst"), None) == "root"
    assert await root.propagate(push(event="click", msg_type="event"), None) is UNHANDLED


def test_misuse_is_a_clear_error():
    root, child, grandchild = Router("root"), Router("child"), Router("grandchild")
    root.include_router(child)
    child.include_router(grandchild)
    with pytest.raises(RuntimeError, match="itself"):
        root.include_router(root)
    with pytest.raises(RuntimeError, match="already included in 'root'"):
        Router("other").include_router(child)
    with pytest.raises(RuntimeError, match="descendant"):
        grandchild.include_router(root)
    with pytest.raises(TypeError, match="Router"):
        root.include_router("answers")

    def not_async(p, rt):
        return "x"

    with pytest.raises(TypeError, match="async"):
        root.text()(not_async)
    with pytest.raises(TypeError, match="callable"):
        root.text("not a filter")(answer("x"))
