"""The WeChat channel: GET/POST /wechat. Translates a push into one domain
call (record the message, or note an event) and the result into a reply."""

from __future__ import annotations

import logging
import time
from datetime import datetime, timezone

from aiohttp import web
from sqlalchemy import update
from wechatpy.messages import BaseMessage

from bot import metrics
from bot.cases import InboundMessage
from bot.services import SERVICES, Services
from nlp.base import Classification
from storage import queries
from storage.models import Contact, Message

from .wechat_protocol import ProtocolError, WeChatCrypto, open_push, parse, render_text, sha1_signature, signature_ok
from .wechat_router import SKIP, Router, event_name

log = logging.getLogger(__name__)

ROUTER = web.AppKey("wechat_router", Router)

# Text stands in for non-text messages in the case thread.
NO_TEXT = Classification("other", "general", 0.0, (), needs_review=True, source="rules")

router = Router("wechat")


def _received_at(msg: BaseMessage) -> datetime:
    try:
        return datetime.fromtimestamp(int(msg._data["CreateTime"]), timezone.utc)
    except (KeyError, TypeError, ValueError, OverflowError, OSError):
        return datetime.now(timezone.utc)


def message_key(msg: BaseMessage) -> str:
    """WeChat's retry identity: (ToUserName, FromUserName, MsgId) for
    messages, (FromUserName, CreateTime, Event, EventKey) for events."""
    d = msg._data
    msg_id = d.get("MsgId") or d.get("MsgID")
    if msg.type != "event" and msg_id:
        return f"wx:{msg.target}:{msg.source}:{msg_id}"
    return f"wxe:{msg.source}:{d.get('CreateTime', '')}:{d.get('Event', d.get('MsgType', ''))}:{d.get('EventKey', '')}"


def message_text(msg: BaseMessage) -> tuple[str, str]:
    """(text for the thread, msg_type) of any message."""
    d = msg._data
    kind = msg.type
    if kind == "text":
        return str(d.get("Content") or ""), "text"
    if kind == "voice":
        recognition = d.get("Recognition")
        return (f"[语音] {recognition}" if recognition else "[语音]"), "voice"
    if kind == "image":
        return f"[图片] {d.get('PicUrl', '')}".strip(), "image"
    if kind in ("video", "shortvideo"):
        return "[视频]", kind
    if kind == "location":
        return f"[位置] {d.get('Label', '')} ({d.get('Location_X', '')}, {d.get('Location_Y', '')})", "location"
    if kind == "link":
        return f"[链接] {d.get('Title', '')} {d.get('Url', '')}".strip(), "link"
    return f"[暂不支持的消息类型: {d.get('MsgType', '?')}]", "unknown"


async def record_message(msg: BaseMessage, services: Services, raw: str, *,
                         auto_answer=None, classification: Classification | None = None) -> str:
    """Record through the group committer; ``auto_answer`` (issue 7) makes the
    reply a knowledge-base answer with the case number."""
    text, msg_type = message_text(msg)
    if classification is not None:
        pass  # the caller has classified it already
    elif msg_type == "text" or (msg_type == "voice" and msg._data.get("Recognition")):
        classification = services.classifier.classify(msg._data.get("Content") or msg._data.get("Recognition") or "")
    else:
        classification = NO_TEXT
    item = InboundMessage(
        channel="wechat", identity=msg.source, received_at=_received_at(msg), text=text,
        classification=classification, msg_type=msg_type, dedupe_key=message_key(msg),
        raw=raw, thread=True, passive_reply=True, auto_answer=auto_answer,
    )
    result = await services.committer.submit(item)
    outcome = "duplicate" if result.duplicate else ("joined" if result.joined else "created")
    metrics.labelled(metrics.MESSAGES, "wechat", outcome).inc()
    return result.reply_text


@router.event("location", "view", "templatesendjobfinish", "masssendjobfinish")
async def on_noise(msg: BaseMessage, services: Services):
    # Frequent and informational: no case, nothing stored.
    return None


@router.event("subscribe", "subscribe_scan", "unsubscribe")
async def on_subscription(msg: BaseMessage, services: Services):
    from bot.cases import WELCOME_TEXT

    name = event_name(msg)
    subscribing = name != "unsubscribe"
    reply = services.extras.get("welcome_text", WELCOME_TEXT) if subscribing else None  # the office may edit it
    await services.writer.transaction(_record_subscription, msg, subscribing, reply)
    return reply


def _record_subscription(conn, msg: BaseMessage, subscribing: bool, reply: str | None) -> None:
    at = _received_at(msg)
    ids = queries.ensure_contacts(conn, "wechat", {msg.source: {"at": at}})
    # On unsubscribe WeChat asks developers to delete the user's data; an
    # office must keep case records (档案), so cases and messages stay and
    # only the subscription state changes (README: privacy).
    conn.execute(
        update(Contact).where(Contact.id == ids[msg.source]).values(
            **({"subscribed_at": at, "unsubscribed_at": None} if subscribing else {"unsubscribed_at": at})
        )
    )
    store_event(conn, msg, reply)


def store_event(conn, msg: BaseMessage, reply: str | None) -> None:
    """The event, kept for the record (sync: runs on the intake writer)."""
    ids = queries.ensure_contacts(conn, "wechat", {msg.source: {"at": _received_at(msg)}})
    stmt = queries.dialect_insert(conn, Message).on_conflict_do_nothing(index_elements=["dedupe_key"])
    conn.execute(stmt.values(
        contact_id=ids[msg.source], direction="in", channel="wechat", msg_type=f"event:{event_name(msg)}",
        text="", raw=msg._raw_xml, dedupe_key=message_key(msg), reply_text=reply,
        status="received", created_at=_received_at(msg),
    ))


@router.event()
async def on_other_event(msg: BaseMessage, services: Services):
    # CLICK, SCAN and events we don't know yet: kept for the record, no case.
    await services.writer.transaction(store_event, msg, None)
    return None


@router.message()
async def on_message(msg: BaseMessage, services: Services):
    return await record_message(msg, services, msg._raw_xml)


async def verify_url(request: web.Request) -> web.Response:
    settings = request.app[SERVICES].settings
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
    """The whole body (it may arrive in several pieces), refused past ``limit``."""
    if request.content_length is not None:
        if request.content_length > limit:
            raise ProtocolError(413, "body too large")
        try:
            body = await request.read()  # exactly Content-Length bytes, however they arrive
        except web.HTTPRequestEntityTooLarge:
            raise ProtocolError(413, "body too large") from None
        if len(body) > limit:  # a compressed body counts once inflated
            raise ProtocolError(413, "body too large")
        return body
    chunks, size = [], 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if size > limit:
            raise ProtocolError(413, "body too large")
        chunks.append(chunk)
    return b"".join(chunks)


async def receive(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    settings = services.settings
    if not settings.wechat_enabled:
        raise web.HTTPNotFound(text="WeChat channel is off")
    crypto = request.app.get(CRYPTO)
    try:
        body = await read_capped(request, settings.max_body_bytes)
        opened = open_push(request.query, body, settings.wechat_token, crypto)
        msg = parse(opened.xml)
    except ProtocolError as exc:
        metrics.REJECTED.labels("wechat", str(exc.status)).inc()
        log.warning("wechat: refused a push from %s: %s", request.remote, exc.reason)
        return web.Response(status=exc.status, text=exc.reason)
    msg._raw_xml = opened.xml
    reply = await request.app[ROUTER].dispatch(msg, services)
    if reply is None or reply is SKIP or reply == "":
        return web.Response(text="success")
    xml = render_text(to_user=msg.source, from_user=msg.target, content=reply)
    if opened.encrypted:
        nonce = request.query.get("nonce", "")
        xml = crypto.envelope(xml, nonce, str(int(time.time())))
    return web.Response(text=xml, content_type="application/xml")


CRYPTO = web.AppKey("wechat_crypto", WeChatCrypto)


def setup(app: web.Application, services: Services) -> None:
    settings = services.settings
    if settings.wechat_aes_key:
        app[CRYPTO] = WeChatCrypto(settings.wechat_token or "", settings.wechat_aes_key, settings.wechat_app_id or "")
    app[ROUTER] = Router("root", [router])
    app.router.add_get("/wechat", verify_url)
    app.router.add_post("/wechat", receive)
