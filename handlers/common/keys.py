"""The typed keys under which the assembly hands handlers what they use."""

from __future__ import annotations

from aiohttp import web

from bot.domain.actors import Actor
from bot.services.runtime import Runtime

from .wechat_protocol import WeChatCrypto
from .wechat_router import Router

RUNTIME = web.AppKey("runtime", Runtime)
# Who makes this request: an API token's account (/api/…) or the signed-in
# staff member (/inbox/…).
ACTOR = web.RequestKey("actor", Actor)

# The WeChat channel: the root router of every push handler, and the
# account's crypto (set only in safe mode, when an EncodingAESKey is configured).
WECHAT_ROUTER = web.AppKey("wechat_router", Router)
WECHAT_CRYPTO = web.AppKey("wechat_crypto", WeChatCrypto)
