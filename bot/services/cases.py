"""Cases for staff: manual entry, lists and the inbox's views, one case
with its thread, and every staff action (reclassify, assign, change status,
answer, note, merge, resend a refused answer). The JSON API and the inbox
pages call the same functions; each action is one transaction that writes
the audit trail, and a form made stale by someone else's change is refused.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timezone

from bot.domain import audit_trail as trail
from bot.domain import casework as rules
from bot.domain import inbox as views
from bot.domain.actors import Actor, StaffMember
from bot.domain.audit_trail import AuditLine
from bot.domain.cases import InboundMessage
from bot.domain.casework import CaseError
from bot.domain.errors import InvalidInput, NotFound
from bot.domain.hotline import is_result, progress_message, result_message
from bot.domain.inbox import CaseFilter, DeadlineState, WeChatWindow
from bot.domain import disclosure as dz
from bot.domain import lifecycle
from bot.domain import notices
from bot.domain import tracking as codes
from bot.domain.lifecycle import Clock
from bot.domain.tracking import needs_code
from bot.domain.vocabulary import (
    APPLICANT_TYPES, CHANNELS, KINDS, OUTBOUND_CHANNELS, Channel, Kind, ReplyType, Status,
)
from bot.domain.workdays import UnknownCalendarYear
from nlp.search_tokens import query_tokens
from storage.database import Tx
from storage.models import AuditEntry, CannedReply, Case, CaseNote, Contact, Correction, Message
from storage.queries import accounts, audit
from storage.queries import cases as q
from storage.queries import disclosure as disclosure_q
from storage.queries import kb as kb_q
from storage.queries import outbox as outbox_q

from . import intake, tracking
from .accounts import staff_members
from .letters import PublicationState, publication_of
from .lifecycle import CaseLife, check_signed_for, life_of
from .runtime import Runtime

PAGE_SIZE = 50
MAX_FUTURE_SECONDS = 300  # clocks differ a little; messages from the future don't exist
CASE_NUMBER_LIKE = re.compile(r"^[A-Za-z]{2}\d{8}(-\d{1,6})?$")


def _now() -> datetime:
    return datetime.now(timezone.utc)


def search_filter(q_text: str | None) -> CaseFilter:
    """What a search box asks for: a case number (or a day's prefix of
    numbers), else every word of the text (jieba tokens), else the text
    itself (only punctuation or symbols)."""
    text = (q_text or "").strip()
    if not text:
        return CaseFilter()
    if CASE_NUMBER_LIKE.match(text):
        return CaseFilter(number=text.upper())
    tokens = query_tokens(text)
    return CaseFilter(tokens=tuple(tokens)) if tokens else CaseFilter(text_like=text)


# ---- manual entry (letters, portal, platform, visits, calls) ------------------------

@dataclass(frozen=True)
class ManualEntry:
    channel: str
    received_at: datetime
    text: str
    title: str | None = None
    external_id: str | None = None
    contact_name: str | None = None
    contact_phone: str | None = None
    applicant_type: str | None = None
    kind: str | None = None
    raw: dict | None = None


@dataclass(frozen=True)
class CaseDetail:
    case: Case
    contact: Contact | None = None
    assignee: str | None = None  # the assignee's user name
    messages: list[Message] = field(default_factory=list)
    # The 查询码 of a case just entered on a channel without an identity
    # (letters, visits, the web): shown once, on the receipt; never stored.
    tracking_code: str | None = None


async def enter(rt: Runtime, actor: Actor, entry: ManualEntry) -> tuple[CaseDetail, bool]:
    """A letter, visit, call… typed in by staff. Returns (the case, whether
    it was known already: one case per external id and channel). A new case
    on a channel without an identity (bot/domain/tracking.py: needs_code)
    gets a 查询码, recorded in the same transaction, returned once in
    ``tracking_code`` for the receipt."""
    if entry.channel not in CHANNELS:
        raise InvalidInput(f"channel 必须是 {', '.join(CHANNELS)} 之一", "channel")
    if (entry.received_at - _now()).total_seconds() > MAX_FUTURE_SECONDS:
        raise InvalidInput("received_at 不能晚于当前时间", "received_at")
    if entry.applicant_type is not None and entry.applicant_type not in APPLICANT_TYPES:
        raise InvalidInput(f"applicant_type 必须是 {', '.join(APPLICANT_TYPES)} 之一", "contact.applicant_type")
    if entry.kind is not None and entry.kind not in KINDS:
        raise InvalidInput(f"kind 必须是 {', '.join(KINDS)} 之一", "kind")
    await rt.calendar.refresh()
    identity = entry.contact_phone or (f"name:{entry.contact_name}" if entry.contact_name
                                       else f"anon:{secrets.token_hex(8)}")
    item = InboundMessage(
        channel=entry.channel, identity=identity, received_at=entry.received_at, text=entry.text,
        classification=rt.classifier.classify(entry.text, hint_kind=entry.kind), external_id=entry.external_id,
        raw=json.dumps(entry.raw, ensure_ascii=False) if entry.raw is not None else None,
        contact_name=entry.contact_name, contact_phone=entry.contact_phone, applicant_type=entry.applicant_type,
        title=entry.title, entered_by=actor.label,
    )
    code = tracking.receipt_code(rt.settings) if needs_code(entry.channel) else None
    item.tracking_code_hash = code.hash if code else None
    (result,) = await intake.record(rt, [item])

    def load(tx: Tx) -> CaseDetail:
        case = tx.session.get(Case, result.case_id)
        return CaseDetail(case, tx.session.get(Contact, case.contact_id) if case.contact_id else None,
                          tracking_code=code.code if code and result.created else None)

    return await rt.db.read(load), result.duplicate


# ---- lists ---------------------------------------------------------------------------

@dataclass(frozen=True)
class CasePage:
    items: list[tuple[Case, str | None]]  # (case, assignee's user name)
    total: int
    next_before: int | None  # the id to page on from, when there is more


async def list_cases(rt: Runtime, selection: CaseFilter, search: str | None, *, limit: int,
                     before_id: int | None) -> CasePage:
    """Cases matching, newest first; ``total`` counts them all."""
    stmt = q.selecting(selection, search_filter(search))

    def load(tx: Tx) -> CasePage:
        total = q.count(tx.session, stmt)
        cases = list(tx.session.execute(q.page_newest(stmt, limit + 1, before_id)).scalars())
        more, cases = len(cases) > limit, cases[:limit]
        names = accounts.usernames_of(tx.session, {c.assignee_id for c in cases})
        return CasePage([(c, names.get(c.assignee_id)) for c in cases], total, cases[-1].id if more else None)

    return await rt.db.read(load)


@dataclass(frozen=True)
class InboxRow:
    case: Case
    assignee: str | None  # display name
    deadline: DeadlineState
    marks: list[str]  # 督办, 重办, 群众追问…


@dataclass(frozen=True)
class InboxPage:
    rows: list[InboxRow]
    counts: dict[str, int]
    more: bool
    calendar_error: str | None
    deadline_errors: int


async def inbox(rt: Runtime, actor: Actor, *, view: str, selection: CaseFilter, search: str | None, sort: str,
                page: int, before_id: int | None) -> InboxPage:
    """One page of an inbox view, with every open view's count (in one pass
    over the open cases) and the deadline countdown of each row."""
    if view not in views.VIEWS:
        raise InvalidInput("没有这个视图", "view")
    now, tz = _now(), rt.settings.tz
    calendar = await rt.calendar.refresh()
    calendar_error = None
    try:
        cutoff = views.due_soon_cutoff(now.astimezone(tz).date(), tz, calendar)
    except UnknownCalendarYear as exc:
        cutoff, calendar_error = None, str(exc)
    base = q.selecting(selection, search_filter(search))
    open_views = {v: views.view_filter(v, user_id=actor.user_id, now=now, due_cutoff=cutoff) for v in views.OPEN_VIEWS}
    alerts = {v: views.view_filter(v, user_id=actor.user_id, now=now, due_cutoff=cutoff) for v in views.ALERT_VIEWS}
    chosen = views.view_filter(view, user_id=actor.user_id, now=now, due_cutoff=cutoff)

    def load(tx: Tx) -> InboxPage:
        s = tx.session
        counts = q.count_open_views(s, base, open_views)
        for name, alert in alerts.items():
            counts[name] = q.capped_count(s, q.selecting(selection, search_filter(search), alert))
        stmt = q.selecting(selection, search_filter(search), chosen)
        if view not in counts:
            counts[view] = q.capped_count(s, stmt)
        if sort == "urgent":
            page_stmt = q.page_urgent(stmt, PAGE_SIZE + 1, page * PAGE_SIZE)
        else:
            page_stmt = q.page_newest(stmt, PAGE_SIZE + 1, before_id)
        cases = list(s.execute(page_stmt).scalars())
        names = accounts.names_of(s, [c.assignee_id for c in cases[:PAGE_SIZE]])
        errors = q.count_deadline_errors(s) if actor.is_admin else 0
        rows = [InboxRow(c, names.get(c.assignee_id), views.deadline_state(c, now, tz, calendar), views.case_marks(c))
                for c in cases[:PAGE_SIZE]]
        return InboxPage(rows, counts, len(cases) > PAGE_SIZE, calendar_error, errors)

    return await rt.db.read(load)


# ---- one case ------------------------------------------------------------------------

async def get(rt: Runtime, actor: Actor, case_id: int, *, unmask: bool = False) -> CaseDetail:
    """A case and its thread. Seeing a citizen's full numbers is a recorded act."""

    def load(tx: Tx) -> CaseDetail:
        s = tx.session
        case = s.get(Case, case_id)
        if case is None:
            raise NotFound("没有这个案件")
        if unmask:
            audit.add(s, actor.label, "contact.unmasked", case.id)
        return CaseDetail(case, s.get(Contact, case.contact_id) if case.contact_id else None,
                          accounts.usernames_of(s, [case.assignee_id]).get(case.assignee_id),
                          list(q.case_messages(s, case.id)))

    return await (rt.db.write(load) if unmask else rt.db.read(load))


@dataclass(frozen=True)
class CaseWorkspace:
    """Everything the case page shows."""

    detail: CaseDetail
    notes: list[CaseNote]
    audit: list[AuditEntry]
    users: list[StaffMember]
    canned: list[CannedReply]
    merged_from: list[tuple[int, str]]
    merged_into: Case | None
    names: dict[int, str]  # user id → display name, of everyone on the page
    window: WeChatWindow | None  # whether a WeChat customer-service message can reach the citizen now
    deadline: DeadlineState
    life: CaseLife  # extensions, ratings, urges
    statuses: list[str]  # what staff may set the status to from here (the current one first)
    extension_limit: int  # working days of extension this kind allows in all
    extension_needs_approval: bool  # for this staff member (admins decide themselves)
    publication: PublicationState | None = None  # a web letter box letter's publication on /letters
    # A disclosure request's registration: labels of the application's
    # elements still missing (None: no registration on this case).
    disclosure_missing: tuple[str, ...] | None = None
    # The audit trail as sentences (who, what, office-local time).
    trail: list[AuditLine] = field(default_factory=list)
    # Who last reclassified the case by hand (display name), when staff did.
    reclassified_by: str | None = None


async def workspace(rt: Runtime, actor: Actor, case_id: int, *, unmask: bool = False) -> CaseWorkspace:
    now, tz = _now(), rt.settings.tz
    calendar = await rt.calendar.refresh()

    def load(tx: Tx) -> CaseWorkspace:
        s = tx.session
        case = s.get(Case, case_id)
        if case is None:
            raise NotFound("没有这个案件")
        contact = s.get(Contact, case.contact_id) if case.contact_id else None
        messages = list(q.case_messages(s, case.id))
        notes = q.notes_of(s, case.id)
        window = None
        if case.channel == Channel.WECHAT and contact is not None:
            last_in = q.last_message_in(s, contact.id, Channel.WECHAT)
            used = outbox_q.wechat_sent_since(s, contact.id, last_in) if last_in is not None else 0
            window = views.wechat_window(last_in, used, now, phone=contact.phone)
        if unmask:
            audit.add(s, actor.label, "contact.unmasked", case.id)
        names = accounts.names_of(s, [case.assignee_id, *(m.author_id for m in messages),
                                      *(n.author_id for n in notes)])
        entries = audit.of_case(s, case.id)
        reclassified_by = None
        if case.classified_by == "staff":
            by = q.last_corrected_by(s, case.id)
            reclassified_by = accounts.names_of(s, [by]).get(by, "") if by else ""
        return CaseWorkspace(
            CaseDetail(case, contact, None, messages), notes, entries,
            staff_members(s, active_only=True), q.active_canned_replies(s), q.merged_into(s, case.id),
            s.get(Case, case.merged_into_id) if case.merged_into_id else None, names, window,
            views.deadline_state(case, now, tz, calendar), life_of(tx, case.id),
            [case.status, *sorted(lifecycle.SETTABLE.get(case.status, ()), key=list(Status).index)],
            rt.settings.extension_limit(case.kind), rt.settings.extension_approval and not actor.is_admin,
            publication_of(tx, case, contact), _disclosure_missing(s, case),
            trail.lines(entries, _people_of(s, entries), tz), reclassified_by)

    return await (rt.db.write(load) if unmask else rt.db.read(load))


def _people_of(s, entries: list[AuditEntry]) -> trail.People:
    """The display names an audit trail needs: its actors, the staff its
    entries name by id, the knowledge-base entries they name by key."""
    usernames, tokens = trail.actor_names(e.actor for e in entries)
    ids: set[int] = set()
    kb_keys = False
    for e in entries:
        d = e.detail if isinstance(e.detail, dict) else {}
        pair = d.get("assignee_id")
        if isinstance(pair, list):
            ids.update(i for i in pair if isinstance(i, int))
        kb_keys = kb_keys or e.action.startswith("kb.")
    return trail.People(
        by_username=accounts.names_by_username(s, usernames), by_id=accounts.names_of(s, ids),
        by_token=accounts.token_owner_names(s, tokens),
        kb_entries={r.key: r.title or (r.questions or [r.key])[0] for r in kb_q.all_entries(s)} if kb_keys else {})


def _disclosure_missing(s, case: Case) -> tuple[str, ...] | None:
    if case.kind != Kind.DISCLOSURE_REQUEST:
        return None
    req = disclosure_q.request_of_case(s, case.id)
    return None if req is None else tuple(dz.REQUIRED_FIELDS[m] for m in dz.missing_fields(req))


# ---- staff actions -------------------------------------------------------------------

def _case_for_update(tx: Tx, case_id: int) -> Case:
    # Locked (PostgreSQL; SQLite's writer serialises writes anyway), so the
    # version check can't lose a concurrent edit.
    case = tx.session.get(Case, case_id, with_for_update=True)
    if case is None:
        raise NotFound("没有这个案件")
    return case


async def update(rt: Runtime, actor: Actor, case_id: int, changes: dict, *,
                 expected_version: int | None = None, as_form: bool = False) -> CaseDetail:
    """Apply ``kind``, ``topic``, ``status``, ``assignee`` (a user name or
    None). A reclassification is kept as training data and brings the new
    kind's handling limit; "waiting" pauses the deadline. ``as_form``: the
    inbox's form sends every field; empty ones and the unchanged are left."""
    if as_form:
        changes = {k: v for k, v in changes.items() if v or k == "assignee"}
    calendar = await rt.calendar.refresh()
    settings = rt.settings

    def change(tx: Tx) -> CaseDetail:
        s = tx.session
        case = _case_for_update(tx, case_id)
        rules.check_version(case, expected_version)  # a stale form first: its values may be why it is invalid
        rules.check_changes(changes)
        if as_form:
            assignee = accounts.usernames_of(s, [case.assignee_id]).get(case.assignee_id, "")
            wanted = {k: v for k, v in changes.items()
                      if (k == "assignee" and (v or "") != assignee) or (k != "assignee" and v != getattr(case, k))}
        else:
            wanted = changes
        now = _now()
        before = {"kind": case.kind, "topic": case.topic, "status": case.status, "assignee_id": case.assignee_id}
        diff: dict = {}
        if "assignee" in wanted:
            name = wanted["assignee"]
            if name in (None, ""):
                case.assignee_id = None
            else:
                user = accounts.active_user_by_name(s, str(name))
                if user is None:
                    raise CaseError(f"没有名为 {name} 的工作人员", "assignee")
                case.assignee_id = user.id
                if case.status == Status.NEW and "status" not in wanted:
                    case.status = Status.ASSIGNED
        kind, topic = wanted.get("kind", case.kind), wanted.get("topic", case.topic)
        if (kind, topic) != (case.kind, case.topic):
            s.add(Correction(case_id=case.id, text=case.text, kind=kind, topic=topic, previous_kind=case.kind,
                             previous_topic=case.topic, user_id=actor.user_id))
            diff.update(rules.reclassify(case, kind, topic, days=settings.deadline_days_for(case.channel, kind),
                                         tz=settings.tz, calendar=calendar))
        if "status" in wanted:
            status = wanted["status"]
            if case.channel == Channel.HOTLINE and status in (Status.ANSWERED, Status.CLOSED) and status != case.status:
                _hotline_result_without_reply(tx, case, status, actor, now)
            diff.update(lifecycle.set_status(case, status, now, Clock(settings.tz, calendar)))
        after = {"kind": case.kind, "topic": case.topic, "status": case.status, "assignee_id": case.assignee_id}
        diff = {**{k: [before[k], after[k]] for k in before if before[k] != after[k]}, **diff}
        if diff:
            rules.touch(case, now)
            audit.add(s, actor.label, "case.updated", case.id, **diff)
        s.flush()
        return CaseDetail(case, None, accounts.usernames_of(s, [case.assignee_id]).get(case.assignee_id))

    detail = await rt.db.write(change)
    rt.outbox_queued()
    return detail


def hotline_result(case: Case, reply: str, actor: Actor, at: datetime, status: str | None = None) -> dict:
    """What the 12345 platform learns of an answer or closure."""
    return result_message(order_id=case.external_id, status=status or case.status, reply=reply, replied_at=at,
                          handler=actor.name if actor.user_id else actor.label)


def _hotline_result_without_reply(tx: Tx, case: Case, status: str, actor: Actor, at: datetime) -> None:
    """A hotline case answered or closed without a reply text (e.g. answered
    by phone) still reports back, unless a result is already on its way or
    delivered; the last answer we sent, if any, is the reply."""
    s = tx.session
    if not case.external_id or any(is_result(p) for p in outbox_q.payloads_queued_for(s, case.id, Channel.HOTLINE)):
        return
    last = q.last_reply_text(s, case.id)
    outbox_q.enqueue(s, Channel.HOTLINE, case_id=case.id, message_id=None,
                     payload=hotline_result(case, last or "", actor, at, status), now=at)


async def reply(rt: Runtime, actor: Actor, case_id: int, text: str, *, reply_type: str = ReplyType.FINAL,
                delivered_by: str | None = None, expected_version: int | None = None,
                require_delivery: bool = False) -> Message:
    """Answer the citizen through the case's own channel: WeChat and 12345
    replies go through the durable outbox; other channels record the reply
    and how it was delivered (letter, phone…). ``reply_type``: ``final`` (the
    answer), ``interim`` (progress) or ``request_info`` (asks for more: the
    clock pauses). A final answer on WeChat asks for a rating while the
    customer-service window is open. ``require_delivery``: the inbox asks
    staff how they delivered a reply the machine can't send."""
    delivered_by = (delivered_by or "").strip()[:50] or None
    calendar = await rt.calendar.refresh()
    clock = Clock(rt.settings.tz, calendar)

    def answer(tx: Tx) -> Message:
        s = tx.session
        case = _case_for_update(tx, case_id)
        rules.check_version(case, expected_version)
        body = rules.check_reply(case, text)
        check_signed_for(case)
        outbound = case.channel in OUTBOUND_CHANNELS
        if require_delivery and not outbound and not delivered_by:
            raise CaseError("请选择答复的送达方式", "delivered_by")
        now = _now()
        previous = case.status
        detail = lifecycle.reply(case, reply_type, now, clock)
        message = Message(case_id=case.id, contact_id=case.contact_id, direction="out", channel=case.channel,
                          msg_type="text", text=body, status="pending" if outbound else "sent",
                          author_id=actor.user_id, created_at=now)
        s.add(message)
        s.flush()
        if case.channel == Channel.HOTLINE:
            payload = (hotline_result(case, body, actor, now) if reply_type == ReplyType.FINAL
                       else progress_message(order_id=case.external_id, reply=body, replied_at=now))
            outbox_q.enqueue(s, case.channel, case_id=case.id, message_id=message.id, payload=payload, now=now)
        elif case.channel == Channel.WECHAT:
            window_open = _window_open(tx, case, now)
            if not window_open and reply_type in notices.NOTIFIED and rt.settings.wechat_notice_template:
                _queue_notice(tx, rt.settings, case, message, reply_type, body, now)
            else:
                sent = body
                # The answer that settles the case asks for its rating (回访); a
                # supplementary answer afterwards does not ask again.
                if reply_type == ReplyType.FINAL and previous != Status.ANSWERED and window_open:
                    sent = body + lifecycle.RATING_QUESTION
                    case.rating_requested_at = now
                outbox_q.enqueue(s, case.channel, case_id=case.id, message_id=message.id,
                                 payload={"text": sent, "external_id": case.external_id}, now=now)
        rules.touch(case, now)
        if case.status != previous:
            detail = {"status": [previous, case.status], **detail}
        audit.add(s, actor.label, "case.replied", case.id, message_id=message.id, type=reply_type,
                  via=case.channel if outbound else (delivered_by or case.channel), **detail)
        return message

    message = await rt.db.write(answer)
    rt.outbox_queued()
    return message


def _queue_notice(tx: Tx, settings, case: Case, message: Message, reply_type: str, body: str, now: datetime) -> None:
    """The customer-service window has closed: a subscription notice tells
    the citizen and links to /track, where the reply is; the case keeps the
    hash of the code the link carries (derived again when it is sent)."""
    if case.tracking_code_hash is None:
        case.tracking_code_hash = codes.code_hash(settings.secret_key,
                                                  codes.derived_code(settings.secret_key, case.number))
    values = notices.values_for(number=case.number, reply_type=reply_type, title=case.title, text=case.text,
                                at=now, tz=settings.tz)
    outbox_q.enqueue(tx.session, notices.OUTBOX_TARGET, case_id=case.id, message_id=message.id,
                     payload={"values": values, "reply_type": reply_type}, now=now)


def _window_open(tx: Tx, case: Case, now: datetime) -> bool:
    """Whether a customer-service message can still reach the citizen (48 h
    after their last message, five messages at most) with room for this one."""
    if case.contact_id is None:
        return False
    last_in = q.last_message_in(tx.session, case.contact_id, Channel.WECHAT)
    if last_in is None:
        return False
    used = outbox_q.wechat_sent_since(tx.session, case.contact_id, last_in)
    return views.wechat_window(last_in, used, now).open


async def add_note(rt: Runtime, actor: Actor, case_id: int, text: str, *, expected_version: int | None = None) -> CaseNote:
    """An internal note: seen by staff, never sent to the citizen."""
    body = rules.check_note(text)

    def note(tx: Tx) -> CaseNote:
        case = _case_for_update(tx, case_id)
        rules.check_version(case, expected_version)
        row = CaseNote(case_id=case.id, author_id=actor.user_id, text=body, created_at=_now())
        tx.session.add(row)
        tx.flush()
        audit.add(tx.session, actor.label, "case.noted", case.id, note_id=row.id)
        return row

    return await rt.db.write(note)


async def merge(rt: Runtime, actor: Actor, case_id: int, target_number: str, *,
                expected_version: int | None = None) -> Case:
    """Close a case as merged into the case numbered ``target_number``; both
    keep their messages and the audit trail records the merge on each."""
    number = (target_number or "").strip().upper()
    if not number:
        raise CaseError("请填写要并入的案件受理编号", "target")

    def join(tx: Tx) -> Case:
        s = tx.session
        target_id = q.id_of_number(s, number)
        if target_id is None:
            if s.get(Case, case_id) is None:
                raise NotFound("没有这个案件")
            raise CaseError(f"没有受理编号为 {number} 的案件", "target")
        # Both locked in the order of their ids (never the duplicate first
        # and then the target: two merges crosswise would deadlock).
        locked = q.lock_in_order(s, [case_id, target_id])
        duplicate, target = locked.get(case_id), locked[target_id]
        if duplicate is None:
            raise NotFound("没有这个案件")
        rules.check_version(duplicate, expected_version)
        now = _now()
        previous = rules.merge(duplicate, target, now,
                               has_open_disclosure=disclosure_q.open_request_exists(s, duplicate.id))
        rules.touch(duplicate, now)
        rules.touch(target, now)
        audit.add(s, actor.label, "case.merged", duplicate.id, into=target.id, into_number=target.number,
                  status=[previous, Status.MERGED])
        audit.add(s, actor.label, "case.merged_in", target.id, **{"from": duplicate.id, "from_number": duplicate.number})
        return duplicate

    return await rt.db.write(join)


def _failed_reply(tx: Tx, case: Case, message_id: int) -> Message:
    message = tx.session.get(Message, message_id)
    if message is None or message.case_id != case.id:
        raise CaseError("没有这条答复", "message")
    return message


async def resend(rt: Runtime, actor: Actor, case_id: int, message_id: int) -> None:
    """Send a reply the channel refused again (e.g. once the citizen wrote
    again and WeChat's window reopened): a new outbox item with the payload
    the failed one carried."""

    def retry(tx: Tx) -> None:
        s = tx.session
        case = _case_for_update(tx, case_id)
        message = _failed_reply(tx, case, message_id)
        if message.direction != "out" or case.channel not in OUTBOUND_CHANNELS:
            raise CaseError("这条答复不能重新发送", "message")
        if message.status != "failed":
            raise CaseError("只有发送失败的答复可以重新发送", "message")
        now = _now()
        target, payload = case.channel, outbox_q.last_payload_of(s, message.id)
        if payload is not None and "values" in payload:
            # A notice WeChat refused: the message itself if the citizen's
            # window has reopened, else the notice again.
            if _window_open(tx, case, now):
                payload = None
            else:
                target = notices.OUTBOX_TARGET
        payload = payload or {"text": message.text, "external_id": case.external_id}
        message.status, message.error = "pending", None
        outbox_q.enqueue(s, target, case_id=case.id, message_id=message.id, payload=payload, now=now)
        rules.touch(case, now)
        audit.add(s, actor.label, "case.reply_retried", case.id, message_id=message.id)

    await rt.db.write(retry)
    rt.outbox_queued()


async def record_delivery(rt: Runtime, actor: Actor, case_id: int, message_id: int, delivered_by: str) -> None:
    """A reply the channel refused was delivered another way (phone, letter…)."""
    delivered_by = (delivered_by or "").strip()[:50]
    if not delivered_by:
        raise CaseError("请填写送达方式，例如：电话告知", "delivered_by")

    def deliver(tx: Tx) -> None:
        case = _case_for_update(tx, case_id)
        message = _failed_reply(tx, case, message_id)
        if message.direction != "out" or message.status != "failed":
            raise CaseError("只有发送失败的答复可以改为其他方式送达", "message")
        message.status = "sent"
        message.error = f"{message.error or ''}（已改为{delivered_by}送达）"
        rules.touch(case, _now())
        audit.add(tx.session, actor.label, "case.reply_delivered", case.id, message_id=message.id, via=delivered_by)

    await rt.db.write(deliver)
