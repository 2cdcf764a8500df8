"""What the office does with a WeChat push: record a message as a case (or
a follow-up of one), answer a question from the knowledge base or a keyword
rule, welcome a follower, keep an event for the record.

Every message that opens or joins a case goes through the one recording
path (bot/services/intake.py); a retry of a delivery already handled gets
the reply stored the first time, never a second case.
"""

from __future__ import annotations

from datetime import datetime

from bot import metrics
from bot.domain import own_cases as own
from bot.domain.answers import AutoAnswer
from bot.domain.cases import InboundMessage
from bot.domain.vocabulary import Channel
from bot.domain.wechat import Push, message_key, message_text, question, received_at
from nlp.labels import Classification
from storage.queries import intake as q
from storage.queries import own_cases as own_q

from . import intake
from .runtime import Runtime

# What a message without words is routed as: a person looks at it.
NO_TEXT = Classification("other", "general", 0.0, (), needs_review=True, source="rules")
CHANNEL = Channel.WECHAT


def office_day(rt: Runtime, push: Push):
    return received_at(push).astimezone(rt.settings.tz).date()


async def record_message(rt: Runtime, push: Push, *, auto_answer: AutoAnswer | None = None,
                         classification: Classification | None = None) -> str:
    """The message as a case (or a follow-up of the sender's open case); the
    reply is the receipt with the case number, or ``auto_answer``'s text."""
    text, msg_type = message_text(push)
    if classification is None:
        if msg_type == "text":
            classification = rt.classifier.classify(push.content)
        elif msg_type == "voice" and push.recognition:
            classification = rt.classifier.classify(push.recognition)
        else:
            classification = NO_TEXT
    item = InboundMessage(
        channel=CHANNEL, identity=push.source, received_at=received_at(push), text=text,
        classification=classification, msg_type=msg_type, dedupe_key=message_key(push),
        raw=push.raw, thread=True, passive_reply=True, auto_answer=auto_answer,
    )
    (result,) = await intake.record(rt, [item])
    outcome = "duplicate" if result.duplicate else ("joined" if result.joined else "created")
    metrics.labelled(metrics.MESSAGES, CHANNEL, outcome).inc()
    return result.reply_text


async def answer_question(rt: Runtime, push: Push) -> str | None:
    """A keyword rule's reply (no case), or the knowledge base's answer with
    a case; None when neither knows the question (the receipt follows)."""
    text = question(push)
    if text is None:
        return None
    knowledge = rt.knowledge.current
    rule = knowledge.rule_for(text)
    if rule is not None:
        metrics.AUTO_ANSWERS.labels("rule", "").inc()
        return await rt.db.write(_store_once, push, rule.reply)
    classification = rt.classifier.classify(text)
    answer = knowledge.answer_for(text, classification.kind, office_day(rt, push), classification.secondary_kind)
    if answer is None:
        return None
    metrics.AUTO_ANSWERS.labels("kb", answer.entry_key).inc()
    return await record_message(rt, push, auto_answer=answer, classification=classification)


async def answer_click(rt: Runtime, push: Push) -> str | None:
    """A menu click names a knowledge-base entry: its answer (no case). None
    when the key is no entry valid today (withdrawn since the menu was made)."""
    entry = rt.knowledge.current.for_click(push.event_key, office_day(rt, push))
    if entry is None:
        return None
    metrics.AUTO_ANSWERS.labels("click", entry.key).inc()
    await rt.db.write(_store_event, push, entry.answer)
    return entry.answer


async def note_subscription(rt: Runtime, push: Push, *, subscribed: bool) -> str | None:
    """Follow and unfollow: the welcome text (the office may edit it) or nothing.

    On unsubscribe WeChat asks developers to delete the user's data; an
    office must keep case records (档案), so cases and messages stay and only
    the subscription state changes (README: privacy)."""
    reply = rt.knowledge.current.welcome if subscribed else None
    await rt.db.write(_store_subscription, push, subscribed, reply)
    return reply


async def keep_event(rt: Runtime, push: Push) -> None:
    """An event kept for the record (CLICK, SCAN, events WeChat adds later); no case."""
    await rt.db.write(_store_event, push, None)


async def look_up_own_cases(rt: Runtime, push: Push, query: own.Query) -> str:
    """`查询`: the sender's recent cases; `查询 <受理编号>`: one of them. Read
    only (nothing is stored: a look-up is no matter for the office); a
    number that is not the sender's gets the same answer as an unknown or
    malformed one."""
    tz = rt.settings.tz
    if query.number is None:
        rows = await rt.db.read(lambda tx: own_q.recent_cases(tx.session, CHANNEL, push.source, own.RECENT_LIMIT))
        metrics.labelled(metrics.MESSAGES, CHANNEL, "own_cases").inc()
        return own.list_text([own.CaseLine(number, status, kind, received) for _, number, status, kind, received, _, _
                              in rows], tz)
    metrics.labelled(metrics.MESSAGES, CHANNEL, "own_case").inc()
    if not query.well_formed:
        return own.NOT_FOUND

    def load(tx):
        row = own_q.own_case(tx.session, CHANNEL, push.source, query.number)
        return None if row is None else (row, own_q.replies_sent(tx.session, row[0]))

    found = await rt.db.read(load)
    if found is None:
        return own.NOT_FOUND
    (_, number, status, kind, received, deadline, answered), replies = found
    return own.detail_text(own.CaseDetail(number, status, kind, received, deadline, answered,
                                          [own.Reply(text, at) for text, at in replies]), tz)


# ---- in the write transaction ----------------------------------------------------

def _contact(conn, push: Push, at: datetime) -> int:
    return q.ensure_contacts(conn, CHANNEL, {push.source: {"at": at}})[push.source]


def _store_event(tx, push: Push, reply: str | None) -> None:
    at = received_at(push)
    q.insert_messages_once(tx.conn, [dict(
        contact_id=_contact(tx.conn, push, at), direction="in", channel=CHANNEL, msg_type=f"event:{push.event}",
        text="", raw=push.raw, dedupe_key=message_key(push), reply_text=reply, status="received", created_at=at,
    )])


def _store_subscription(tx, push: Push, subscribed: bool, reply: str | None) -> None:
    at = received_at(push)
    q.set_subscription(tx.conn, _contact(tx.conn, push, at), at=at, subscribed=subscribed)
    _store_event(tx, push, reply)


def _store_once(tx, push: Push, reply: str) -> str:
    """The message with a keyword rule's reply, opening no case; a retry of
    the same delivery gets the reply stored the first time."""
    key = message_key(push)
    seen = q.existing_deliveries(tx.conn, [key])
    if key in seen:
        return seen[key][1] or reply
    text, msg_type = message_text(push)
    at = received_at(push)
    q.insert_messages_once(tx.conn, [dict(
        contact_id=_contact(tx.conn, push, at), direction="in", channel=CHANNEL, msg_type=msg_type, text=text,
        raw=push.raw, dedupe_key=key, reply_text=reply, status="received", created_at=at,
    )])
    return reply
