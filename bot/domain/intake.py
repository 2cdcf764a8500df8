"""Recording a batch of inbound messages: the decisions, without the I/O.

bot/services/intake.py asks storage what is already known (deliveries
seen, open cases of the senders) and these functions decide, message by
message: a retry of something stored (the same answer again), a follow-up
that joins an open case, or a new case with its deadline; and what the
citizen is told.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from .answers import auto_reply_text
from .cases import InboundMessage, compute_deadline, joins_open_case, receipt_text
from .lifecycle import follows_up
from .vocabulary import ANSWERED_STATUSES, Kind, Status
from .workdays import WorkingCalendar


@dataclass(frozen=True, slots=True)
class IntakePolicy:
    """The office's settings a batch is decided by."""

    tz: ZoneInfo
    thread_window: timedelta  # follow-ups within this join the sender's open case
    calendar: WorkingCalendar
    deadline_days: Callable[[str, str], int]  # (channel, kind) → legal working days


@dataclass(slots=True)
class IntakeResult:
    case_id: int | None
    number: str | None
    kind: str | None
    reply_text: str | None
    created: bool = False  # a new case
    joined: bool = False  # appended to the sender's open case
    duplicate: bool = False  # a retry of a delivery already recorded
    deadline_at: datetime | None = None
    classified: bool = False  # this message gave a greeting's case its kind (and its deadline)


# A sender's latest case as storage reports it: (case id, number, kind,
# status, last message at, answered at, received at, deadline days, paused days).
OpenCase = tuple


@dataclass(slots=True)
class Triage:
    """Which messages of a batch are new. ``results`` holds the answers of
    retries already stored; ``first_of`` maps a delivery's key to the first
    message carrying it in this batch (later ones repeat its answer)."""

    results: list[IntakeResult | None]
    fresh: list[int]
    first_of: dict[str, int]


def batch_key(item: InboundMessage) -> str | None:
    """What makes two messages the same delivery: WeChat's retry key, or
    the source's own id on its channel (a 12345 工单编号)."""
    if item.dedupe_key:
        return item.dedupe_key
    return f"ext:{item.channel}:{item.external_id}" if item.external_id else None


def triage(items: list[InboundMessage], seen_deliveries: dict[str, tuple],
           seen_external: dict[str, dict[str, tuple]]) -> Triage:
    """``seen_deliveries``: dedupe key → (case id, reply, number, kind);
    ``seen_external``: channel → external id → (case id, number, kind)."""
    results: list[IntakeResult | None] = [None] * len(items)
    first_of: dict[str, int] = {}
    fresh: list[int] = []
    for idx, item in enumerate(items):
        key = item.dedupe_key
        if key and key in seen_deliveries:
            case_id, reply, number, kind = seen_deliveries[key]
            results[idx] = IntakeResult(case_id, number, kind, reply, duplicate=True)
        elif item.external_id and item.external_id in seen_external.get(item.channel, {}):
            case_id, number, kind = seen_external[item.channel][item.external_id]
            results[idx] = IntakeResult(case_id, number, kind, None, duplicate=True)
        else:
            key = batch_key(item)
            if key and key in first_of:
                continue  # the same delivery twice in one batch: see finish()
            if key:
                first_of[key] = idx
            fresh.append(idx)
    return Triage(results, fresh, first_of)


def finish(items: list[InboundMessage], triage: Triage) -> list[IntakeResult]:
    """Every result, the in-batch repeats answered as their first."""
    results = triage.results
    for idx, item in enumerate(items):
        if results[idx] is None:
            first = results[triage.first_of[batch_key(item)]]  # type: ignore[index]
            results[idx] = IntakeResult(first.case_id, first.number, first.kind, first.reply_text, duplicate=True)
    return results  # type: ignore[return-value]


def contacts_wanted(items: list[InboundMessage], fresh: Iterable[int]) -> dict[str, dict[str, dict]]:
    """channel → identity → what to store of a contact not seen before."""
    people: dict[str, dict[str, dict]] = {}
    for idx in fresh:
        it = items[idx]
        people.setdefault(it.channel, {}).setdefault(
            it.identity, {"name": it.contact_name, "phone": it.contact_phone,
                          "applicant_type": it.applicant_type, "at": it.received_at})
    return people


def answered_on_the_spot(item: InboundMessage) -> bool:
    """A knowledge-base answer that needs no person settles the case it opens."""
    return item.auto_answer is not None and not item.auto_answer.needs_person


@dataclass(slots=True)
class Threading:
    """Where each fresh message goes. ``target[idx]`` is the index of the
    message whose new case it opens or joins (itself when it opens one);
    ``joins[idx]`` is the open case it joins instead."""

    target: dict[int, int]
    joins: dict[int, OpenCase]
    order: list[int]  # fresh messages in batch order
    creators: list[int]


def joins_latest(case: OpenCase, item: InboundMessage, window: timedelta) -> bool:
    """Whether a message belongs to the sender's latest case: an open one
    under the threading rule (cases.joins_open_case), or one a person
    answered within the week (a follow-up of the answer, not a new case;
    a case the account answered on the spot takes none)."""
    status, last_at, answered_at, received_at = case[3], case[4], case[5], case[6]
    if status in ANSWERED_STATUSES:
        return answered_at is not None and answered_at > received_at and follows_up(answered_at, item.received_at)
    return joins_open_case(last_at, status, item.received_at, window)


def thread(items: list[InboundMessage], fresh: list[int], contact_of: Callable[[int], int],
           open_cases: dict[int, OpenCase], window: timedelta) -> Threading:
    """A message joins the sender's latest case (or the one an earlier
    message of this batch opens) when ``joins_latest`` allows; otherwise it
    opens a case."""
    target: dict[int, int] = {}
    joins: dict[int, OpenCase] = {}
    opened_in_batch: dict[int, int] = {}  # contact id → index of the message opening a case
    for idx in fresh:
        it = items[idx]
        cid = contact_of(idx)
        if it.thread and cid in opened_in_batch and joins_open_case(
                items[opened_in_batch[cid]].received_at, Status.NEW, it.received_at, window):
            target[idx] = opened_in_batch[cid]
            continue
        if it.thread and cid in open_cases and joins_latest(open_cases[cid], it, window):
            joins[idx] = open_cases[cid]
            continue
        target[idx] = idx
        if it.thread and not answered_on_the_spot(it):  # an answered case takes no follow-ups
            opened_in_batch[cid] = idx
    creators = [idx for idx in fresh if target.get(idx) == idx]
    return Threading(target, joins, list(fresh), creators)


def by_local_day(items: list[InboundMessage], indexes: Iterable[int], tz: ZoneInfo) -> dict[date, list[int]]:
    """Messages by the office-local day they came in: case numbers count per day."""
    out: dict[date, list[int]] = {}
    for idx in indexes:
        out.setdefault(items[idx].received_at.astimezone(tz).date(), []).append(idx)
    return out


def new_case_deadline(item: InboundMessage, policy: IntakePolicy) -> tuple[datetime | None, int | None, str | None]:
    """(due at, working days, why it could not be computed) of the case this
    message opens: the source's own deadline when it fixes one (12345 办理时限),
    else the kind's limit counted in legal working days from receipt."""
    if item.deadline_at is not None:
        return item.deadline_at, None, None
    days = policy.deadline_days(item.channel, item.classification.kind)
    d = compute_deadline(item.received_at, days, policy.tz, policy.calendar)
    return d.due_at, days, d.error


def initial_state(item: InboundMessage, now: datetime) -> tuple[str, datetime | None, datetime | None]:
    """(status, answered at, closed at) of the case a message opens. History
    keeps the state it was imported in (settled at its 办结时间, when known:
    without one, its answer time is unknown)."""
    if item.initial_status:
        status = item.initial_status
        answered_at = item.settled_at if status in ANSWERED_STATUSES else None
        closed_at = (item.settled_at or now) if status == Status.CLOSED else None
        return status, answered_at, closed_at
    if answered_on_the_spot(item):
        return Status.ANSWERED, item.received_at, None
    return Status.NEW, None, None


def kind_deadline(case: OpenCase, kind: str, channel: str, policy: IntakePolicy) -> dict:
    """A greeting's case took a kind: its deadline is that kind's, counted
    from the receipt (plus any days paused). A deadline the source fixed
    (deadline days unknown) stays. The changed columns, empty for none."""
    received_at, days_before, paused = case[6], case[7], case[8] or 0
    if days_before is None:
        return {}
    days = policy.deadline_days(channel, kind)
    d = compute_deadline(received_at, days + paused, policy.tz, policy.calendar)
    return {"deadline_at": d.due_at, "deadline_days": days, "deadline_error": d.error}


def takes_kind_of(case_kind: str, item: InboundMessage) -> bool:
    """A case opened by a bare greeting takes the kind of the first text
    that says what it is about."""
    return case_kind == Kind.OTHER and item.classification.kind != Kind.OTHER and item.msg_type == "text"


def reply_text(item: InboundMessage, result: IntakeResult, policy: IntakePolicy, *, has_deadline: bool) -> str:
    """What the citizen is told: the receipt with the case number and the
    time limit, or the knowledge-base answer with the case number."""
    if item.reply_template is not None:
        return item.reply_template.replace("{number}", result.number or "")
    kind = result.kind or Kind.OTHER
    days = policy.deadline_days(item.channel, kind)
    if result.classified:  # the citizen's real question, at last: the receipt says when it is answered
        return receipt_text(kind=kind, number=result.number or "", days=days, joined=False, msg_type=item.msg_type,
                            has_deadline=has_deadline)
    if item.auto_answer is not None:
        aa = item.auto_answer
        return auto_reply_text(aa.answer, result.number or "", needs_person=aa.needs_person, joined=result.joined,
                               days=days if has_deadline else None)
    return receipt_text(kind=kind, number=result.number or "", days=days, joined=result.joined,
                        msg_type=item.msg_type, has_deadline=has_deadline)
