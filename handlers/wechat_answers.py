"""Instant answers on the WeChat account: keyword rules, menu clicks and
knowledge-base answers, ahead of the default case-recording handlers (and
behind the disclosure dialog, which is placed first).

Order for a text: keyword rule → knowledge base → (not handled here) the
normal receipt. A keyword rule's reply and a menu click's answer are stored
with the message but open no case; a knowledge-base answer goes through the
one intake path with ``auto_answer``, so the reply carries the case number
and a WeChat retry gets the very same reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime

from aiohttp import web
from wechatpy.messages import BaseMessage

from bot import knowledge as kb
from bot.metrics import AUTO_ANSWERS
from bot.services import SERVICES, Services
from storage import kb_queries, queries
from storage.models import Message

from . import wechat
from .wechat_router import SKIP, Router, raw_type

log = logging.getLogger(__name__)

KNOWLEDGE = "knowledge"  # services.extras key
RELOAD_CHECK_SECONDS = 3.0

router = Router("answers")


def current(services: Services) -> kb.Knowledge:
    return services.extras.get(KNOWLEDGE) or kb.Knowledge()


async def reload(services: Services) -> kb.Knowledge:
    knowledge = await kb.load(services.sessions)
    services.extras[KNOWLEDGE] = knowledge
    services.extras["welcome_text"] = knowledge.welcome  # read by wechat.on_subscription
    return knowledge


def _question(msg: BaseMessage) -> str | None:
    t = raw_type(msg)
    if t == "text":
        return str(msg._data.get("Content") or "").strip() or None
    if t == "voice":
        return str(msg._data.get("Recognition") or "").strip() or None
    return None


def _office_day(msg: BaseMessage, services: Services):
    return wechat._received_at(msg).astimezone(services.settings.tz).date()


@router.message("text", "voice")
async def on_question(msg: BaseMessage, services: Services):
    text = _question(msg)
    if text is None:
        return SKIP
    knowledge = current(services)
    rule = knowledge.rule_for(text)
    if rule is not None:
        AUTO_ANSWERS.labels("rule", "").inc()
        return await _reply_without_case(msg, services, rule.reply)
    classification = services.classifier.classify(text)
    answer = knowledge.answer_for(text, classification.kind, _office_day(msg, services))
    if answer is None:
        return SKIP  # the default handler gives the normal receipt
    AUTO_ANSWERS.labels("kb", answer.entry_key).inc()
    return await wechat.record_message(msg, services, msg._raw_xml, auto_answer=answer,
                                       classification=classification)


@router.event("click")
async def on_click(msg: BaseMessage, services: Services):
    key = str(msg._data.get("EventKey") or "")
    entry = current(services).for_click(key, _office_day(msg, services))
    if entry is None:
        # Not a knowledge-base key (the menu push refuses those, so: an entry
        # withdrawn since, or out of its dates): stored by the default handler.
        return SKIP
    reply = entry.answer
    AUTO_ANSWERS.labels("click", entry.key).inc()
    await services.writer.transaction(wechat.store_event, msg, reply)
    return reply


async def _reply_without_case(msg: BaseMessage, services: Services, reply: str) -> str:
    """Store the message with the rule's reply (no case); a retry of the
    same delivery gets the reply stored the first time."""
    return await services.writer.transaction(_store_rule_reply, msg, reply)


def _store_rule_reply(conn, msg: BaseMessage, reply: str) -> str:
    key = wechat.message_key(msg)
    text, msg_type = wechat.message_text(msg)
    at = wechat._received_at(msg)
    seen = queries.existing_deliveries(conn, [key])
    if key in seen:
        return seen[key][1] or reply
    ids = queries.ensure_contacts(conn, "wechat", {msg.source: {"at": at}})
    stmt = queries.dialect_insert(conn, Message).on_conflict_do_nothing(index_elements=["dedupe_key"])
    conn.execute(stmt.values(
        contact_id=ids[msg.source], direction="in", channel="wechat", msg_type=msg_type, text=text,
        raw=msg._raw_xml, dedupe_key=key, reply_text=reply, status="received", created_at=at))
    return reply


async def _keep_current(app: web.Application):
    """Load the knowledge base at start-up; reload it whenever another
    worker (or the CLI) changed it."""
    services = app[SERVICES]
    try:
        await reload(services)
    except Exception:
        log.exception("answers: loading the knowledge base failed; answering with receipts only")

    async def watch() -> None:
        while True:
            await asyncio.sleep(RELOAD_CHECK_SECONDS)
            try:
                async with services.sessions() as s:
                    revision = await kb_queries.get_value(s, kb_queries.REVISION_KEY)
                if revision != current(services).revision:
                    await reload(services)
                    log.info("answers: knowledge base reloaded (revision %s)", revision)
            except Exception:
                log.exception("answers: reloading the knowledge base failed; keeping the previous one")

    task = asyncio.create_task(watch(), name="kb-reload")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    api = services.extras.get("wechat_api")
    if api is not None:
        await api.close()


def setup(app: web.Application) -> None:
    """Mount the answers router just ahead of the default WeChat handlers
    (anything included with first=True, such as the disclosure dialog, stays
    ahead of it), the knowledge-base API and inbox pages, and the reload task."""
    from . import kb_api, kb_pages

    root = app[wechat.ROUTER]
    root.routes.insert(root.routes.index(wechat.router), router)
    kb_api.setup(app)
    kb_pages.setup(app)
    app.cleanup_ctx.append(_keep_current)


def today(services: Services):
    return datetime.now(services.settings.tz).date()
