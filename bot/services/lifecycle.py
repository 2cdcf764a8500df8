"""A case's life after it is recorded: extensions (延期), returns (退回),
ratings and re-handling (回访, 重办), urging (催办/督办). Each is one
transaction that checks the step against the state machine
(bot/domain/lifecycle.py), changes the case and writes the audit trail.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from bot.domain import hotline, lifecycle
from bot.domain.actors import Actor
from bot.domain.casework import check_version, touch
from bot.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from bot.domain.lifecycle import Clock
from bot.domain.vocabulary import ANSWERED_STATUSES, Channel, RatingSource, UrgeLevel
from bot.domain.wechat import Push, message_key, received_at
from storage.database import Tx
from storage.models import Case, CaseExtension, CaseRating, CaseUrge
from storage.queries import audit
from storage.queries import intake as intake_q
from storage.queries import lifecycle as q
from storage.queries import outbox as outbox_q

from .runtime import Runtime

MAX_TEXT = 2000


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _case(tx: Tx, case_id: int) -> Case:
    case = tx.session.get(Case, case_id, with_for_update=True)
    if case is None:
        raise NotFound("没有这个案件")
    return case


async def _clock(rt: Runtime) -> Clock:
    return Clock(rt.settings.tz, await rt.calendar.refresh())


# ---- what the case page shows --------------------------------------------------------

@dataclass(frozen=True)
class ExtensionView:
    id: int
    working_days: int
    reason: str
    status: str  # pending | approved | refused
    requested_by: str
    approved_by: str | None
    requested_at: datetime
    decided_at: datetime | None
    new_deadline: datetime | None


@dataclass(frozen=True)
class RatingView:
    score: int
    source: str
    comment: str | None
    round: int  # the re-handlings before the answer rated
    actor: str
    at: datetime


@dataclass(frozen=True)
class UrgeView:
    level: str
    note: str | None
    actor: str
    at: datetime


@dataclass(frozen=True)
class CaseLife:
    """A case's extensions, ratings and urges, oldest first."""

    extensions: list[ExtensionView]
    ratings: list[RatingView]
    urges: list[UrgeView]

    @property
    def pending_extension(self) -> ExtensionView | None:
        return next((e for e in self.extensions if e.status == "pending"), None)


def life_of(tx: Tx, case_id: int) -> CaseLife:
    s = tx.session
    return CaseLife(
        [ExtensionView(e.id, e.working_days, e.reason, e.status, e.requested_by, e.approved_by, e.requested_at,
                       e.decided_at, e.new_deadline) for e in q.extensions_of(s, case_id)],
        [RatingView(r.score, r.source, r.comment, r.round, r.actor, r.at) for r in q.ratings_of(s, case_id)],
        [UrgeView(u.level, u.note, u.actor, u.at) for u in q.urges_of(s, case_id)],
    )


# ---- 12345 orders: what the platform decides, and what it is told ------------------

def is_order(case: Case) -> bool:
    """A 12345 work order still tied to the platform (imported history is not)."""
    return case.channel == Channel.HOTLINE and case.external_id is not None and case.accepted_at is not None


def check_signed_for(case: Case) -> None:
    """Nothing goes to the platform about an order before its 签收 (it would refuse it)."""
    if case.channel == Channel.HOTLINE and case.external_id is not None and case.accepted_at is None:
        raise Conflict("该12345工单尚未签收，请先签收", "accepted_at", "not_accepted")


def _tell_platform(tx: Tx, case: Case, message: dict, now: datetime) -> None:
    outbox_q.enqueue(tx.session, Channel.HOTLINE, case_id=case.id, message_id=None, payload=message, now=now)


def accept_in(tx: Tx, actor: Actor, case: Case, now: datetime) -> None:
    """签收 of a 12345 order by a staff member (when it is not automatic)."""
    if case.channel != Channel.HOTLINE or case.external_id is None:
        raise Conflict("只有12345工单需要签收", "accepted_at", "not_an_order")
    lifecycle.accept(case, now)
    _tell_platform(tx, case, hotline.accepted_message(order_id=case.external_id, accepted_at=now,
                                                      handler=actor.name), now)
    touch(case, now)
    audit.add(tx.session, actor.label, "case.accepted", case.id)


async def accept(rt: Runtime, actor: Actor, case_id: int) -> Case:
    def sign_for(tx: Tx) -> Case:
        case = _case(tx, case_id)
        accept_in(tx, actor, case, _now())
        return case

    case = await rt.db.write(sign_for)
    rt.outbox_queued()
    return case


# ---- 延期 --------------------------------------------------------------------------

@dataclass(frozen=True)
class ExtensionOutcome:
    case: Case
    extension: CaseExtension


async def request_extension(rt: Runtime, actor: Actor, case_id: int, working_days, reason, *,
                            approved_by: str | None = None, expected_version: int | None = None) -> ExtensionOutcome:
    """延期, asked before the deadline with working days and a reason. It
    takes effect at once, unless someone else decides: the 12345 platform
    for its orders (the request goes to it), an admin when approval is
    required (``[extensions] require_approval``) and the asker is not one."""
    working_days, reason = lifecycle.check_extension(working_days, reason)
    if approved_by is not None and not isinstance(approved_by, str):
        raise InvalidInput("approved_by 必须是字符串（批准人姓名）", "approved_by")
    approved_by = (approved_by or "").strip()[:100] or None
    clock = await _clock(rt)
    settings = rt.settings

    def ask(tx: Tx) -> ExtensionOutcome:
        s = tx.session
        case = _case(tx, case_id)
        check_version(case, expected_version)
        check_signed_for(case)
        if q.pending_extension(s, case.id) is not None:
            raise Conflict("该案件已有待审批的延期申请", "working_days", "pending")
        now = _now()
        maximum = settings.extension_limit(case.kind)
        # Checked now whatever decides later: before the deadline, within the maximum.
        probe = _Probe(case)
        lifecycle.extend(probe, working_days, now, clock, already=case.extended_days or 0, maximum=maximum)
        row = CaseExtension(case_id=case.id, working_days=working_days, reason=reason, status="pending",
                            requested_by=actor.label, approved_by=approved_by, requested_at=now,
                            old_deadline=case.deadline_at)
        s.add(row)
        order = is_order(case)
        if order or (settings.extension_approval and not actor.is_admin):
            touch(case, now)
            s.flush()
            if order:
                _tell_platform(tx, case, hotline.extension_request_message(
                    order_id=case.external_id, working_days=working_days, reason=reason, requested_at=now), now)
            audit.add(s, actor.label, "case.extension_requested", case.id, extension_id=row.id,
                      working_days=working_days, reason=reason, to="platform" if order else "admin")
            return ExtensionOutcome(case, row)
        _grant(tx, case, row, actor, now, clock, maximum)
        return ExtensionOutcome(case, row)

    outcome = await rt.db.write(ask)
    rt.outbox_queued()
    return outcome


class _Probe:
    """A copy of a case's clock to try an extension on without changing it."""

    def __init__(self, case: Case):
        self.status, self.deadline_at, self.extended_days = case.status, case.deadline_at, case.extended_days


def _grant(tx: Tx, case: Case, row: CaseExtension, actor: Actor, now: datetime, clock: Clock, maximum: int,
           *, deadline: datetime | None = None) -> None:
    already = case.extended_days or 0
    if deadline is not None:
        # The deciding authority's date (the 12345 platform's), whatever our count says.
        old = case.deadline_at
        case.deadline_at, case.extended_days = deadline, already + row.working_days
        detail = {"working_days": row.working_days,
                  "deadline": [old.isoformat() if old else None, deadline.isoformat()]}
    else:
        detail = lifecycle.extend(case, row.working_days, now, clock, already=already, maximum=maximum)
    row.status, row.decided_at, row.new_deadline = "approved", now, case.deadline_at
    row.approved_by = row.approved_by or actor.name
    touch(case, now)
    tx.flush()
    audit.add(tx.session, actor.label, "case.extended", case.id, extension_id=row.id, reason=row.reason,
              approved_by=row.approved_by, **detail)


def decide_extension_in(tx: Tx, rt: Runtime, clock: Clock, actor: Actor, case: Case, approved: bool, *,
                        note: str | None, deadline: datetime | None, now: datetime) -> CaseExtension:
    row = q.pending_extension(tx.session, case.id)
    if row is None:
        raise Conflict("该案件没有待审批的延期申请", "approved", "no_pending_extension")
    if approved:
        _grant(tx, case, row, actor, now, clock, rt.settings.extension_limit(case.kind), deadline=deadline)
    else:
        row.status, row.decided_at = "refused", now
        touch(case, now)
        audit.add(tx.session, actor.label, "case.extension_refused", case.id, extension_id=row.id,
                  note=(note or "")[:MAX_TEXT] or None)
    return row


async def decide_extension(rt: Runtime, actor: Actor, case_id: int, approved, *, note: str | None = None,
                           deadline: datetime | None = None) -> ExtensionOutcome:
    """An admin grants or refuses the pending extension (the 12345
    platform decides its orders' through its events)."""
    if not isinstance(approved, bool):
        raise InvalidInput("approved 必须是 true 或 false", "approved")
    if actor.user_id is not None and not actor.is_admin:
        raise Forbidden("只有管理员可以审批延期")
    clock = await _clock(rt)

    def decide(tx: Tx) -> ExtensionOutcome:
        case = _case(tx, case_id)
        if is_order(case):
            raise Conflict("12345工单的延期由12345平台审批", "approved", "platform_decides")
        return ExtensionOutcome(case, decide_extension_in(tx, rt, clock, actor, case, approved, note=note,
                                                          deadline=deadline, now=_now()))

    return await rt.db.write(decide)


# ---- 退回 --------------------------------------------------------------------------

async def give_back(rt: Runtime, actor: Actor, case_id: int, reason, basis, *,
                    expected_version: int | None = None) -> Case:
    """退回: not this office's remit, with the reason and the legal basis.
    A 12345 order is given back only when the platform agrees: the request
    goes to it and shows on the case meanwhile."""
    clock = await _clock(rt)

    def back(tx: Tx) -> Case:
        case = _case(tx, case_id)
        check_version(case, expected_version)
        check_signed_for(case)
        now = _now()
        if is_order(case):
            lifecycle.ask_return(case, reason, basis, now)
            _tell_platform(tx, case, hotline.return_request_message(
                order_id=case.external_id, reason=case.return_reason, basis=case.return_basis, requested_at=now), now)
            touch(case, now)
            audit.add(tx.session, actor.label, "case.return_requested", case.id, reason=case.return_reason,
                      basis=case.return_basis)
            return case
        detail = lifecycle.give_back(case, reason, basis, now, clock)
        touch(case, now)
        audit.add(tx.session, actor.label, "case.returned", case.id, reason=case.return_reason,
                  basis=case.return_basis, **detail)
        return case

    case = await rt.db.write(back)
    rt.outbox_queued()
    return case


def decide_return_in(tx: Tx, clock: Clock, actor: Actor, case: Case, approved: bool, note: str | None,
                     now: datetime) -> None:
    """The platform's answer to our 退回 request."""
    if case.return_requested_at is None:
        raise Conflict("该工单没有待答复的退回申请", "approved", "no_pending_return")
    if approved:
        detail = lifecycle.give_back(case, case.return_reason, case.return_basis, now, clock)
        audit.add(tx.session, actor.label, "case.returned", case.id, reason=case.return_reason,
                  basis=case.return_basis, note=note, **detail)
    else:
        lifecycle.refuse_return(case)
        audit.add(tx.session, actor.label, "case.return_refused", case.id, note=note)
    touch(case, now)


# ---- 回访 and 重办 -----------------------------------------------------------------

@dataclass(frozen=True)
class RatingResult:
    case: Case
    rating: CaseRating
    outcome: lifecycle.RatingOutcome


def rate_in(tx: Tx, rt: Runtime, clock: Clock, actor: Actor, case: Case, score: int, source: str,
            comment: str | None, now: datetime) -> RatingResult:
    """A rating recorded; a low one re-opens the case, except the 12345
    platform's on its own order: it sends ``redo`` when it wants 重办."""
    round_ = case.reopened or 0
    days = rt.settings.deadline_days_for(case.channel, case.kind) if case.deadline_days is not None else None
    previous = case.status
    outcome = lifecycle.rate(case, score, now, clock, days=days, max_reopen=rt.settings.max_reopen_by_rating,
                             reopen=not (source == RatingSource.PLATFORM and is_order(case)))
    case.rating_requested_at = None  # answered: a further "5" from the citizen is a new message, not a rating
    row = CaseRating(case_id=case.id, score=score, source=source, comment=(comment or "")[:MAX_TEXT] or None,
                     round=round_, actor=actor.label, at=now)
    tx.session.add(row)
    touch(case, now)
    tx.flush()
    audit.add(tx.session, actor.label, "case.rated", case.id, rating_id=row.id, score=score, source=source)
    if outcome.reopened:
        audit.add(tx.session, actor.label, "case.reopened", case.id, reopened=case.reopened,
                  status=[previous, case.status],
                  deadline=case.deadline_at.isoformat() if case.deadline_at else None)
    if outcome.supervised:
        tx.session.add(CaseUrge(case_id=case.id, level=UrgeLevel.SUPERVISE, note=f"第{case.reopened + 1}次评价不满意",
                                actor=actor.label, at=now))
        audit.add(tx.session, actor.label, "case.supervised", case.id, reason="low_rating", score=score)
    return RatingResult(case, row, outcome)


async def rate(rt: Runtime, actor: Actor, case_id: int, score, source, comment=None) -> RatingResult:
    """A rating of the final answer, by the citizen, staff (from a call or a
    visit) or the 12345 platform. 2 or less re-opens the case for 重办."""
    score, source = lifecycle.check_rating(score, source)
    if comment is not None and not isinstance(comment, str):
        raise InvalidInput("comment 必须是字符串", "comment")
    clock = await _clock(rt)
    result = await rt.db.write(lambda tx: rate_in(tx, rt, clock, actor, _case(tx, case_id), score, source, comment,
                                                  _now()))
    rt.outbox_queued()
    return result


def redo_in(tx: Tx, rt: Runtime, clock: Clock, actor: Actor, case: Case, reason: str, deadline: datetime | None,
            now: datetime) -> None:
    """重办 ordered by the 12345 platform, with its deadline or the kind's limit."""
    days = rt.settings.deadline_days_for(case.channel, case.kind) if deadline is None else None
    detail = lifecycle.redo(case, now, clock, days=days, deadline=deadline)
    touch(case, now)
    audit.add(tx.session, actor.label, "case.reopened", case.id, reason=reason, **detail)


def cancel_in(tx: Tx, actor: Actor, case: Case, reason: str, now: datetime) -> None:
    """撤单: the platform withdraws the order."""
    detail = lifecycle.cancel(case, now)
    touch(case, now)
    audit.add(tx.session, actor.label, "case.cancelled", case.id, reason=reason, **detail)


async def rate_by_wechat(rt: Runtime, push: Push) -> str | None:
    """A citizen answers the rating question of their latest answered case
    (1–5, 满意, 基本满意, 不满意…) within the week: recorded, and the reply
    says what happens next. None when the message is not such an answer."""
    score = lifecycle.rating_in(push.content)
    if score is None:
        return None
    clock = await _clock(rt)
    at = received_at(push)

    def record(tx: Tx) -> str | None:
        key = message_key(push)
        seen = intake_q.existing_deliveries(tx.conn, [key])
        if key in seen:  # a retry: the reply stored the first time
            return seen[key][1]
        case = q.rated_case_of(tx.session, Channel.WECHAT, push.source, since=at - timedelta(days=lifecycle.RATING_DAYS))
        if case is None or case.status not in ANSWERED_STATUSES:
            return None
        actor = Actor(f"channel:{Channel.WECHAT}")
        result = rate_in(tx, rt, clock, actor, case, score, RatingSource.CITIZEN, None, at)
        if result.outcome.reopened:
            reply = lifecycle.RATING_REOPENED.format(number=case.number, days=case.deadline_days or "")
        elif result.outcome.supervised:
            reply = lifecycle.RATING_SUPERVISED.format(number=case.number)
        else:
            reply = lifecycle.RATING_THANKS.format(number=case.number)
        contact = intake_q.ensure_contacts(tx.conn, Channel.WECHAT, {push.source: {"at": at}})[push.source]
        # The rating and the passive reply join the case's thread, as any message does.
        intake_q.insert_messages_once(tx.conn, [
            dict(case_id=case.id, contact_id=contact, direction="in", channel=Channel.WECHAT, msg_type="text",
                 text=push.content, raw=push.raw, dedupe_key=key, reply_text=reply, status="received", created_at=at),
            dict(case_id=case.id, contact_id=contact, direction="out", channel=Channel.WECHAT, msg_type="text",
                 text=reply, raw=None, dedupe_key=None, reply_text=None, status="sent", created_at=_now())])
        return reply

    return await rt.db.write(record)


# ---- 催办 / 督办 ---------------------------------------------------------------------

def urge_in(tx: Tx, actor: Actor, case: Case, level, note: str | None, now: datetime) -> None:
    lifecycle.urge(case, level, now)
    tx.session.add(CaseUrge(case_id=case.id, level=level, note=(note or "")[:MAX_TEXT] or None,
                            actor=actor.label, at=now))
    touch(case, now)
    audit.add(tx.session, actor.label, "case.urged", case.id, level=level, note=(note or "")[:200] or None)


async def urge(rt: Runtime, actor: Actor, case_id: int, level, note=None) -> Case:
    """催办 or 督办: the case stands out in the inbox's 督办 view."""
    if note is not None and not isinstance(note, str):
        raise InvalidInput("note 必须是字符串", "note")

    def press(tx: Tx) -> Case:
        case = _case(tx, case_id)
        urge_in(tx, actor, case, level, note, _now())
        return case

    return await rt.db.write(press)


async def history(rt: Runtime, case_id: int) -> CaseLife:
    """The case's extensions, ratings and urges, oldest first."""
    return await rt.db.read(lambda tx: life_of(tx, case_id))

