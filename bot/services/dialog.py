"""The WeChat disclosure dialog (bot/domain/dialog.py) as a use case: one
step per message, in one write transaction; the last step registers the
request (the same registration as staff make, bot/services/disclosure.py)
and its case (the one recording path, bot/services/intake.py).

The dialog's state is a database row, so any worker can continue it; the
row remembers the last message handled and its reply, so a WeChat retry of
the same message gets the same reply and never advances the dialog twice.
"""

from __future__ import annotations

from datetime import datetime, timezone

from bot.domain import dialog as rules
from bot.domain import disclosure as dz
from bot.domain.cases import InboundMessage
from bot.domain.disclosure import Applicant, DisclosureError
from bot.domain.vocabulary import Channel, Kind
from bot.domain.wechat import Push, message_key, received_at
from nlp.labels import Classification
from storage.database import Tx
from storage.models import Case, DisclosureDialog, Message
from storage.queries import audit, dialogs
from storage.queries import intake as q

from .batching import BatchLookup
from .disclosure import register_in
from .intake import record_batch
from .runtime import Runtime

CHANNEL = Channel.WECHAT


def active_dialogs(rt: Runtime) -> BatchLookup[str, bool]:
    """Whether a user is in the middle of the dialog, asked for many users
    at once: most messages belong to no dialog, and a burst must not cost a
    round trip each."""

    async def fetch(openids: list[str]) -> dict[str, bool]:
        # Most senders have no dialog at all: ask that first, cheaply.
        have = await rt.db.writer.keys_present(DisclosureDialog.openid, openids)
        if not have:
            return {}
        rows = await rt.db.writer.read(dialogs.steps_of, list(have))
        now = datetime.now(timezone.utc)
        return {openid: rules.is_active(step, now - updated_at) for openid, step, updated_at in rows}

    return BatchLookup(fetch, default=False)


async def step(rt: Runtime, push: Push) -> str | None:
    """The dialog's reply to a text, or None when the sender is in no
    dialog and the text is not a disclosure request."""
    text = push.content.strip()
    if not await rt.dialogs.get(push.source):
        if rt.classifier.classify(text).kind != Kind.DISCLOSURE_REQUEST:
            return None
    calendar = await rt.calendar.refresh()
    return await rt.db.write(_step, rt, push, text, datetime.now(timezone.utc), calendar)


def _step(tx: Tx, rt: Runtime, push: Push, text: str, now: datetime, calendar) -> str:
    conn = tx.conn
    key = message_key(push)
    # A retry of any message the dialog already answered (not only the last
    # one: retries can arrive late) gets that answer again, no step taken.
    stored = q.existing_deliveries(conn, [key]).get(key)
    if stored is not None and stored[1]:
        return stored[1]
    current, stored_data, last_key, last_reply, updated_at = dialogs.lock(conn, push.source, now)
    if last_key == key:
        return last_reply  # a retry: same answer, no step taken
    data = dict(stored_data or {})
    if not rules.is_active(current, now - updated_at):
        next_step, data, reply = "name", {"request": text[:2000]}, rules.INTRO
    elif text in rules.CANCEL_WORDS:
        next_step, reply = "cancelled", rules.CANCELLED
    else:
        next_step, reply = rules.advance(current, text, data)
        if next_step == "done":
            reply = _register(tx, rt, push, key, data, calendar)
    if next_step != "done":
        # Every step is logged as it is answered (no case yet); the
        # registered case takes the whole dialog into its thread.
        _store_step(conn, push, key, text, reply, now)
        data["keys"] = [*data.get("keys", []), key]
    dialogs.save(conn, push.source, step=next_step, data=data if next_step != "done" else {}, last_key=key,
                 last_reply=reply, at=now)
    return reply


def _register(tx: Tx, rt: Runtime, push: Push, key: str, data: dict, calendar) -> str:
    """The completed application becomes a case and a disclosure request in
    the dialog's own transaction; the date of receipt is today, the day both
    sides confirm (第三十一条)."""
    settings, tz = rt.settings, rt.settings.tz
    at = received_at(push)
    today = at.astimezone(tz).date()
    description = data["info"]
    c = rt.classifier.classify(description, hint_kind=Kind.DISCLOSURE_REQUEST)
    item = InboundMessage(
        channel=CHANNEL, identity=push.source, received_at=at, text=rules.case_text(data),
        classification=Classification(Kind.DISCLOSURE_REQUEST, c.topic, c.confidence, c.matched, False, "feed"),
        dedupe_key=key, raw=push.raw, contact_name=data["name"],
        contact_phone=data["contact"] if rules.PHONE.match(data["contact"]) else None,
        applicant_type="natural_person", title="政府信息公开申请",
    )
    (result,) = record_batch(tx.conn, [item], rt.intake_policy())
    q.attach_messages(tx.conn, [k for earlier in data.get("keys", []) for k in (earlier, earlier + "#reply")],
                      result.case_id)
    case = tx.session.get(Case, result.case_id)
    applicant = Applicant(applicant_type="natural_person", name=data["name"], contact=data["contact"],
                          description=description, delivery_form=data["form"])
    note = None
    try:
        req = register_in(tx, case, applicant, receipt_date=today, receipt_basis="confirmed", calendar=calendar,
                          secret_key=settings.secret_key)
    except DisclosureError as exc:
        # The calendar can't date the deadline (a year not entered yet): the
        # case is kept, staff register the request by hand.
        reply, note = rules.NO_DEADLINE.format(number=result.number, day=today), str(exc)
    else:
        dz.sync_case(case, req, tz, datetime.now(timezone.utc), calendar=calendar, staff_acted=False)
        reply = rules.done_text(result.number, today, req.answer_due)
    q.set_reply(tx.conn, key, reply)
    tx.session.add(Message(case_id=result.case_id, direction="out", channel=CHANNEL, msg_type="text", text=reply,
                           status="sent", created_at=datetime.now(timezone.utc)))
    audit.add(tx.session, "channel:wechat", "disclosure.registered", result.case_id, via="wechat_dialog",
              **({"calendar_error": note} if note else {}))
    return reply


def _store_step(conn, push: Push, key: str, text: str, reply: str, now: datetime) -> None:
    at = received_at(push)
    contact = q.ensure_contacts(conn, CHANNEL, {push.source: {"at": now}})[push.source]
    q.insert_messages_once(conn, [
        dict(contact_id=contact, direction="in", channel=CHANNEL, msg_type="text", text=text, raw=push.raw,
             dedupe_key=key, reply_text=reply, status="received", created_at=at),
        dict(contact_id=contact, direction="out", channel=CHANNEL, msg_type="text", text=reply, raw=None,
             dedupe_key=key + "#reply", reply_text=None, status="sent", created_at=now),
    ])
