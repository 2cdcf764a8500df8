"""`查询` on the WeChat account: the sender's own recent cases, or one of
them by number (bot/services/wechat.py); the menu button whose key is
bot.domain.own_cases.MENU_KEY sends the same. Included first: `查询` means
the look-up even in the middle of the disclosure dialog (which stays where
it was)."""

from __future__ import annotations

from bot.domain import own_cases
from bot.domain.wechat import Push
from bot.services import wechat
from bot.services.runtime import Runtime

from .common.wechat_router import Router


def is_look_up(push: Push) -> bool:
    return own_cases.parse(push.content) is not None


def is_menu_button(push: Push) -> bool:
    return push.event_key == own_cases.MENU_KEY


async def on_text(push: Push, rt: Runtime) -> str:
    return await wechat.look_up_own_cases(rt, push, own_cases.parse(push.content))


async def on_click(push: Push, rt: Runtime) -> str:
    return await wechat.look_up_own_cases(rt, push, own_cases.Query(None))


def router() -> Router:
    """A fresh router with these handlers, in this order."""
    r = Router("own_cases")
    r.text(is_look_up)(on_text)
    r.event("click", is_menu_button)(on_click)
    return r
