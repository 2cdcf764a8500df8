"""The WeChat channel's endpoint: GET /wechat (the console's URL check) and
POST /wechat (every push). Authenticates and reads the push, hands it to
the root router (its handlers are in handlers/wechat_*.py, assembled by
bot/routes.py), and renders the reply, encrypted in safe mode."""

from __future__ import annotations

import logging
import time

from aiohttp import web

from bot import metrics

from .common.keys import RUNTIME, WECHAT_CRYPTO, WECHAT_ROUTER
from .common.wechat_protocol import ProtocolError, open_push, parse, render_text, sha1_signature, signature_ok
from .common.wechat_router import UNHANDLED

log = logging.getLogger(__name__)


async def verify_url(request: web.Request) -> web.Response:
    settings = request.app[RUNTIME].settings
    q = request.query
    if not settings.wechat_enabled:
        raise web.HTTPNotFound(text="WeChat channel is off")
    if not signature_ok(sha1_signature(settings.wechat_token, q.get("timestamp", ""), q.get("nonce", "")),
                        q.get("signature")):
        metrics.REJECTED.labels("wechat", "signature").inc()
        log.warning("wechat: URL verification with a wrong signature from %s", request.remote)
        raise web.HTTPForbidden(text="signature does not match")
    return web.Response(text=q.get("echostr", ""), content_type="text/plain")


async def read_capped(request: web.Request, limit: int) -> bytes:
    """The whole body (it may arrive in several pieces, or chunked), refused
    past ``limit``. The error middleware has read it already, under its
    deadline and aiohttp's client_max_size (at least ``limit``); here it is
    taken from there."""
    if request.content_length is not None and request.content_length > limit:
        raise ProtocolError(413, "body too large")
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise ProtocolError(413, "body too large") from None
    if len(body) > limit:  # a compressed or chunked body counts once whole
        raise ProtocolError(413, "body too large")
    return body


async def receive(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    settings = rt.settings
    if not settings.wechat_enabled:
        raise web.HTTPNotFound(text="WeChat channel is off")
    crypto = request.app.get(WECHAT_CRYPTO)
    try:
        body = await read_capped(request, settings.max_body_bytes)
        opened = open_push(request.query, body, settings.wechat_token, crypto)
        push = parse(opened.xml)
    except ProtocolError as exc:
        metrics.REJECTED.labels("wechat", str(exc.status)).inc()
        log.warning("wechat: refused a push from %s: %s", request.remote, exc.reason)
        return web.Response(status=exc.status, text=exc.reason)
    reply = await request.app[WECHAT_ROUTER].propagate(push, rt)
    if reply is None or reply is UNHANDLED or reply == "":
        return web.Response(text="success")
    xml = render_text(to_user=push.source, from_user=push.target, content=reply)
    if opened.encrypted:
        xml = crypto.envelope(xml, request.query.get("nonce", ""), str(int(time.time())))
    return web.Response(text=xml, content_type="application/xml")
