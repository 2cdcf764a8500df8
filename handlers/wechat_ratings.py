"""回访 on the WeChat account: a citizen's answer to the rating question a
final answer asked (1–5, 满意, 基本满意, 不满意…) is recorded on that case
(a low one re-opens it for 重办). Ahead of the instant answers, behind the
disclosure dialog; anything else goes on to them."""

from __future__ import annotations

from bot.domain.wechat import Push
from bot.services import lifecycle
from bot.services.runtime import Runtime

from .common.wechat_router import UNHANDLED, Router


async def on_text(push: Push, rt: Runtime):
    reply = await lifecycle.rate_by_wechat(rt, push)
    return UNHANDLED if reply is None else reply  # not a rating, or no answer awaits one


def router() -> Router:
    """A fresh router with this handler."""
    r = Router("ratings")
    r.text()(on_text)
    return r
