"""The WeChat disclosure dialog (bot/services/dialog.py): a text from
someone in the middle of it, or one that reads as a disclosure request,
takes the dialog's next step. Included first."""

from __future__ import annotations

from bot.domain.wechat import Push
from bot.services import dialog
from bot.services.runtime import Runtime

from .common.wechat_router import UNHANDLED, Router

async def on_text(push: Push, rt: Runtime):
    reply = await dialog.step(rt, push)
    return UNHANDLED if reply is None else reply


def router() -> Router:
    """A fresh router with these handlers, in this order."""
    r = Router("disclosure_dialog")
    r.text()(on_text)
    return r
