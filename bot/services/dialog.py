"""The WeChat disclosure dialog (bot/domain/dialog.py) as a use case.

A text that reads as a disclosure request is a case at once: it is recorded
through the one recording path (bot/services/intake.py), its reply gives the
case number with the dialog's first question, and the case is registered as
a request straight away with what is known (a partial registration: staff
see what is missing). Each later answer is one step in one write
transaction that writes the answer into the registration (the same
registration staff make, bot/services/disclosure.py) and joins the case's
thread. A citizen who stops, or leaves the dialog, leaves a case with a
partial registration, never nothing.

The dialog's state is a database row, so any worker can continue it; the
row remembers the last message handled and its reply, so a WeChat retry of
the same message gets the same reply and never advances the dialog twice.
It holds no personal data: the answers go into the registration, where
contact details are encrypted.
"""

from __future__ import annotations

from datetime import date, datetime, timezone

from bot.domain import dialog as rules
from bot.domain import disclosure as dz
from bot.domain.cases import InboundMessage
from bot.domain.disclosure import Applicant, DisclosureError
from bot.domain.vocabulary import ApplicantType, Channel, Kind
from bot.domain.wechat import Push, message_key, received_at
from bot.domain.workdays import WorkingCalendar
from nlp.labels import Classification
from storage.database import Tx
from storage.models import Case, DisclosureDialog, DisclosureRequest
from storage.queries import audit, dialogs
from storage.queries import disclosure as disclosure_q
from storage.queries import intake as q

from . import intake
from .batching import BatchLookup
from .disclosure import register_in
from .runtime import Runtime

CHANNEL = Channel.WECHAT
TITLE = "政府信息公开申请"
ACTOR = "channel:wechat"
# Which registration field each step's answer fills.
ANSWER_FIELDS = {"name": "name", "contact": "contact", "info": "description", "form": "delivery_form"}


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
    if await rt.dialogs.get(push.source):
        calendar = await rt.calendar.refresh()
        return await rt.db.write(_step, rt, push, text, datetime.now(timezone.utc), calendar)
    classification = rt.classifier.classify(text)
    if classification.kind != Kind.DISCLOSURE_REQUEST:
        return None
    return await _open(rt, push, text, classification)


async def _open(rt: Runtime, push: Push, text: str, classification: Classification) -> str:
    """The request's first message: a case of its own (never joined to the
    sender's open case), recorded like every message, and in the same
    transaction (the group committer's, shared with the other messages of
    the moment) the dialog and the partial registration."""
    key = message_key(push)
    item = InboundMessage(
        channel=CHANNEL, identity=push.source, received_at=received_at(push), text=push.content,
        classification=classification, dedupe_key=key, raw=push.raw, passive_reply=True, title=TITLE,
        applicant_type=ApplicantType.NATURAL_PERSON, reply_template=rules.INTRO,
    )
    calendar = await rt.calendar.refresh()

    def start(tx: Tx, result: intake.IntakeResult) -> None:
        _start(tx, rt, push, key, result.case_id, result.number, result.reply_text, datetime.now(timezone.utc),
               calendar)

    # A retry gets the same answer, and the dialog is not started again (the
    # first delivery started it, and it may have moved on or ended since):
    # ``then`` runs only for a delivery recorded now.
    (result,) = await intake.record(rt, [item], then=start)
    return result.reply_text


def _start(tx: Tx, rt: Runtime, push: Push, key: str, case_id: int, number: str, reply: str, now: datetime,
           calendar: WorkingCalendar) -> None:
    # Run only for a delivery recorded just now (intake.record's ``then``),
    # so never for a retry: no earlier state of the dialog to consult.
    case = tx.session.get(Case, case_id)  # loaded with the batch's other new cases (intake: then)
    try:
        _fill(tx, rt, case, {}, calendar, receipt_date=received_at(push).astimezone(rt.settings.tz).date(),
              now=now, new_case=True)
    except DisclosureError as exc:
        # The calendar can't date the deadline (a year not entered yet): the
        # case is kept unregistered, staff register it by hand.
        audit.add(tx.session, ACTOR, "disclosure.registration_failed", case_id, via="wechat_dialog", error=str(exc))
    dialogs.start(tx, push.source, step="name", data={"case_id": case_id, "number": number}, last_key=key,
                  last_reply=reply, at=now)


def _step(tx: Tx, rt: Runtime, push: Push, text: str, now: datetime, calendar: WorkingCalendar) -> str | None:
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
    case = tx.session.get(Case, data["case_id"]) if data.get("case_id") else None
    if case is None or not rules.is_active(current, now - updated_at):
        # Ended since the look-up (or a dialog of a version before cases were
        # made at once): an ordinary message, for the next handler.
        return None
    number = case.number
    if rules.is_stop(text):
        next_step, reply = "stopped", rules.STOPPED.format(number=number)
        audit.add(tx.session, ACTOR, "disclosure.dialog_stopped", case.id, step=current)
    else:
        answer: dict = {}
        next_step, reply = rules.advance(current, text, answer)
        if next_step != current:
            done = next_step == "done"
            today = now.astimezone(rt.settings.tz).date()
            try:
                req = _fill(tx, rt, case, {ANSWER_FIELDS[k]: v for k, v in answer.items()}, calendar,
                            receipt_date=today if done else None, now=now)
                tx.flush()
            except DisclosureError as exc:
                # Staff archived the request meanwhile, or the calendar can't date it.
                req = None
                audit.add(tx.session, ACTOR, "disclosure.registration_failed", case.id, via="wechat_dialog",
                          error=str(exc))
                if not done:
                    next_step, reply = "stopped", rules.CLOSED_BY_STAFF.format(number=number)
            if done:
                if req is not None and req.answer_due is not None:
                    reply = rules.done_text(number, req.receipt_date, req.answer_due)
                    audit.add(tx.session, ACTOR, "disclosure.dialog_completed", case.id, via="wechat_dialog")
                else:
                    reply = rules.NO_DEADLINE.format(number=number, day=rules.cn_day(today))
    _store_step(conn, push, key, text, reply, now, case.id)
    case.last_message_at = max(case.last_message_at, received_at(push)) if case.last_message_at else received_at(push)
    case.updated_at = now
    dialogs.save(conn, push.source, step=next_step, data={"case_id": case.id, "number": number}, last_key=key,
                 last_reply=reply, at=now)
    return reply


def _fill(tx: Tx, rt: Runtime, case: Case, fields: dict, calendar: WorkingCalendar, *, receipt_date: date | None,
          now: datetime, new_case: bool = False) -> DisclosureRequest | None:
    """The case's registration with ``fields`` (registration field → value)
    written in: made on the first message (what is not known yet is
    missing), and, when the citizen confirms the last step, dated that day
    (第三十一条: an online request is received on the day both sides
    confirm) unless staff have moved it on already. ``new_case``: recorded
    in this very transaction, so it has no registration yet. Written when
    the session is next flushed."""
    settings = rt.settings
    req = None if new_case else disclosure_q.request_of_case(tx.session, case.id)
    if req is None:
        if receipt_date is None:
            return None  # registration failed at the start: staff register it by hand
        applicant = Applicant(applicant_type=ApplicantType.NATURAL_PERSON, name=fields.get("name"),
                              contact=fields.get("contact"), description=fields.get("description") or "",
                              delivery_form=fields.get("delivery_form"))
        req = register_in(tx, case, applicant, receipt_date=receipt_date, receipt_basis="confirmed",
                          calendar=calendar, secret_key=settings.secret_key)
        audit.add(tx.session, ACTOR, "disclosure.registered", case.id, via="wechat_dialog",
                  missing=dz.missing_fields(req))
    else:
        changes = dict(fields)
        if receipt_date is not None and req.correction_sent_on is None and req.outcome is None:
            changes["receipt_date"] = receipt_date
        dz.update_details(req, changes, calendar=calendar, secret_key=settings.secret_key)
    dz.sync_case(case, req, settings.tz, now, calendar=calendar, staff_acted=False)
    return req


def _store_step(conn, push: Push, key: str, text: str, reply: str, now: datetime, case_id: int) -> None:
    at = received_at(push)
    contact = q.ensure_contacts(conn, CHANNEL, {push.source: {"at": now}})[push.source]
    q.insert_messages_once(conn, [
        dict(case_id=case_id, contact_id=contact, direction="in", channel=CHANNEL, msg_type="text", text=text,
             raw=push.raw, dedupe_key=key, reply_text=reply, status="received", created_at=at),
        dict(case_id=case_id, contact_id=contact, direction="out", channel=CHANNEL, msg_type="text", text=reply,
             raw=None, dedupe_key=key + "#reply", reply_text=None, status="sent", created_at=now),
    ])
