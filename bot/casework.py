"""Staff actions on a case, shared by the JSON API and the inbox: each
validates, changes the case, and writes the audit trail in the caller's
transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from nlp.base import KINDS, TOPICS
from storage.models import AuditEntry, Case, CaseNote, Correction, DisclosureRequest, Message, OutboxItem, User

from .cases import STATUSES, compute_deadline
from .config import Settings
from .hotline import result_payload
from .workdays import UnknownCalendarYear, WorkingCalendar

# Channels whose answer goes out through a machine (the outbox); the others
# record the answer and how staff delivered it.
OUTBOUND_TARGETS = {"wechat": "wechat", "hotline": "hotline"}


class CaseError(ValueError):
    def __init__(self, message: str, field: str | None = None, code: str = "invalid"):
        super().__init__(message)
        self.field = field
        self.code = code


class StaleCase(CaseError):
    def __init__(self, current_version: int):
        super().__init__("该案件已被他人修改，请刷新后重试", "version", "conflict")
        self.current_version = current_version


@dataclass(frozen=True)
class Actor:
    """Who acts: a staff account, through the inbox or a named API token."""

    user: User | None
    label: str  # user:<name> or token:<name>

    @property
    def user_id(self) -> int | None:
        return self.user.id if self.user else None


def _now() -> datetime:
    return datetime.now(timezone.utc)


async def update_case(
    session: AsyncSession, case: Case, changes: dict, actor: Actor, *, expected_version: int | None = None,
    calendar: WorkingCalendar | None = None, tz: ZoneInfo | None = None, settings: Settings | None = None,
) -> Case:
    """Apply ``kind``, ``topic``, ``status``, ``assignee`` (a user name or None).
    Entering "waiting" pauses the deadline; leaving it extends the deadline by
    the working days spent waiting (``calendar``/``tz``: the office's). A new
    kind brings that kind's handling limit (``settings``), unless the source
    fixed the deadline (12345 orders)."""
    if expected_version is not None and expected_version != case.version:
        raise StaleCase(case.version)
    unknown = set(changes) - {"kind", "topic", "status", "assignee"}
    if unknown:
        name = sorted(unknown)[0]
        raise CaseError(f"不能修改字段 {name}", name)
    before = {"kind": case.kind, "topic": case.topic, "status": case.status, "assignee_id": case.assignee_id}
    now = _now()
    if "kind" in changes and changes["kind"] not in KINDS:
        raise CaseError(f"未知的类型 {changes['kind']!r}", "kind")
    if "topic" in changes and changes["topic"] not in TOPICS:
        raise CaseError(f"未知的主题 {changes['topic']!r}", "topic")
    if "status" in changes and changes["status"] not in STATUSES:
        raise CaseError(f"未知的状态 {changes['status']!r}", "status")
    if "assignee" in changes:
        name = changes["assignee"]
        if name in (None, ""):
            case.assignee_id = None
        else:
            user = (await session.execute(select(User).where(User.username == str(name), User.active.is_(True)))).scalar_one_or_none()
            if user is None:
                raise CaseError(f"没有名为 {name} 的工作人员", "assignee")
            case.assignee_id = user.id
            if case.status == "new" and "status" not in changes:
                case.status = "assigned"
    new_kind, new_topic = changes.get("kind", case.kind), changes.get("topic", case.topic)
    if (new_kind, new_topic) != (case.kind, case.topic):
        session.add(Correction(case_id=case.id, text=case.text, kind=new_kind, topic=new_topic,
                               previous_kind=case.kind, previous_topic=case.topic, user_id=actor.user_id))
        case.kind, case.topic = new_kind, new_topic
        case.classified_by = "staff"
        case.needs_review = False
    limit = _deadline_for_kind(case, settings, calendar) if case.kind != before["kind"] and settings else {}
    pause: dict = {}
    if "status" in changes and changes["status"] != case.status:
        if changes["status"] == "waiting":
            case.waiting_since = now
        elif case.status == "waiting":
            pause = end_pause(case, now, calendar, tz)
    if "status" in changes:
        if case.channel == "hotline" and changes["status"] in ("answered", "closed") and changes["status"] != case.status:
            await _hotline_result_without_reply(session, case, changes["status"], actor, now)
        case.status = changes["status"]
        if case.status == "answered" and case.answered_at is None:
            case.answered_at = now
        if case.status == "closed":
            case.closed_at = case.closed_at or now
            case.answered_at = case.answered_at or now
    after = {"kind": case.kind, "topic": case.topic, "status": case.status, "assignee_id": case.assignee_id}
    diff = {k: [before[k], after[k]] for k in before if before[k] != after[k]}
    diff.update(pause)
    diff.update(limit)
    if diff:
        case.version += 1
        case.updated_at = now
        session.add(AuditEntry(actor=actor.label, action="case.updated", case_id=case.id, detail=diff))
    return case


async def add_reply(session: AsyncSession, case: Case, text: str, actor: Actor, *, delivered_by: str | None = None,
                    calendar: WorkingCalendar | None = None, tz: ZoneInfo | None = None) -> Message:
    """Answer the citizen through the case's own channel. WeChat and 12345
    answers go through the durable outbox; other channels record the answer
    and how it was delivered (letter, phone…)."""
    text = (text or "").strip()
    if not text:
        raise CaseError("答复内容不能为空", "text")
    now = _now()
    target = OUTBOUND_TARGETS.get(case.channel)
    message = Message(
        case_id=case.id, contact_id=case.contact_id, direction="out", channel=case.channel, msg_type="text",
        text=text, status="pending" if target else "sent", author_id=actor.user_id, created_at=now,
        error=None if target else None,
    )
    session.add(message)
    await session.flush()
    pause = end_pause(case, now, calendar, tz) if case.status == "waiting" else {}
    if case.status not in ("answered", "closed"):
        case.status = "answered"
    if target:
        payload = {"text": text, "external_id": case.external_id}
        if target == "hotline":
            payload = hotline_result(case, text, actor, now)
        session.add(OutboxItem(target=target, case_id=case.id, message_id=message.id,
                               payload=payload, next_attempt_at=now))
    case.answered_at = case.answered_at or now
    case.version += 1
    case.updated_at = now
    session.add(AuditEntry(actor=actor.label, action="case.replied", case_id=case.id,
                           detail={"message_id": message.id, "via": target or (delivered_by or case.channel), **pause}))
    return message


# ---- 12345 results (the platform learns every answer and closure) ----------

def hotline_result(case: Case, reply: str, actor: Actor, at: datetime, status: str | None = None) -> dict:
    handler = (actor.user.display_name or actor.user.username) if actor.user else actor.label
    return result_payload(order_id=case.external_id, status=status or case.status, reply=reply,
                          replied_at=at, handler=handler, tz=timezone.utc)


async def _hotline_result_without_reply(session: AsyncSession, case: Case, status: str, actor: Actor, at: datetime) -> None:
    """A hotline case answered or closed without a reply text (e.g. answered
    by phone) still reports back, unless a result is already on its way or
    delivered; the last answer we sent, if any, is the reply."""
    already = (await session.execute(
        select(OutboxItem.id).where(OutboxItem.case_id == case.id, OutboxItem.target == "hotline",
                                    OutboxItem.status.in_(("pending", "sent"))).limit(1)
    )).first()
    if already is not None or not case.external_id:
        return
    last = (await session.execute(
        select(Message.text).where(Message.case_id == case.id, Message.direction == "out")
        .order_by(Message.id.desc()).limit(1)
    )).scalar_one_or_none()
    session.add(OutboxItem(target="hotline", case_id=case.id,
                           payload=hotline_result(case, last or "", actor, at, status), next_attempt_at=at))


# ---- inbox (issue 5): deadline pause, notes, merge, failed replies ----------

def end_pause(case: Case, now: datetime, calendar: WorkingCalendar | None, tz: ZoneInfo | None) -> dict:
    """Leave "waiting": push the deadline back by the working days the office
    waited for the citizen. Returns what changed, for the audit trail."""
    since, case.waiting_since = case.waiting_since, None
    if since is None:
        return {}
    calendar = calendar or WorkingCalendar()
    tz = tz or ZoneInfo("Asia/Shanghai")
    try:
        days = calendar.working_days_between(since.astimezone(tz).date(), now.astimezone(tz).date())
        if case.deadline_at is None or days <= 0:
            return {"paused_working_days": max(days, 0)}
        old = case.deadline_at
        last_day = calendar.add_working_days(old.astimezone(tz).date(), days)
    except UnknownCalendarYear as exc:
        case.deadline_error = str(exc)[:200]
        return {"pause_error": str(exc)}
    case.deadline_at = datetime.combine(last_day, time(23, 59, 59), tz).astimezone(timezone.utc)
    case.paused_days = (case.paused_days or 0) + days
    return {"paused_working_days": days, "deadline": [old.isoformat(), case.deadline_at.isoformat()]}


def _deadline_for_kind(case: Case, settings: Settings, calendar: WorkingCalendar | None) -> dict:
    """Reclassified: the deadline follows the new kind's limit (plus any days
    already paused). Deadlines a source fixed (deadline_days None) stay."""
    if case.deadline_days is None:
        return {}
    days = settings.deadline_days_for(case.channel, case.kind)
    if days == case.deadline_days:
        return {}
    old_at, old_days = case.deadline_at, case.deadline_days
    d = compute_deadline(case.received_at, days + (case.paused_days or 0), settings.tz, calendar or WorkingCalendar())
    case.deadline_at, case.deadline_days, case.deadline_error = d.due_at, days, d.error
    return {"deadline_days": [old_days, days],
            "deadline_at": [old_at.isoformat() if old_at else None, d.due_at.isoformat() if d.due_at else None]}


async def add_note(session: AsyncSession, case: Case, text: str, actor: Actor) -> CaseNote:
    """An internal note: seen by staff, never sent to the citizen."""
    text = (text or "").strip()
    if not text:
        raise CaseError("备注内容不能为空", "text")
    if len(text) > 5000:
        raise CaseError("备注过长（最多 5000 字）", "text")
    note = CaseNote(case_id=case.id, author_id=actor.user_id, text=text, created_at=_now())
    session.add(note)
    await session.flush()
    session.add(AuditEntry(actor=actor.label, action="case.noted", case_id=case.id, detail={"note_id": note.id}))
    return note


async def merge_case(session: AsyncSession, duplicate: Case, target: Case, actor: Actor, *,
                     expected_version: int | None = None) -> Case:
    """Close ``duplicate`` as merged into ``target``; both keep their messages
    and the audit trail records the merge on each."""
    if expected_version is not None and expected_version != duplicate.version:
        raise StaleCase(duplicate.version)
    if duplicate.id == target.id:
        raise CaseError("不能把案件并入它自己", "target")
    if duplicate.merged_into_id is not None:
        raise CaseError("该案件已并入其他案件", "target")
    if target.merged_into_id is not None:
        raise CaseError(f"目标案件 {target.number} 本身已被合并，请并入它所并入的案件", "target")
    # A registered disclosure request is a legal file counted in table 三:
    # it must be answered (e.g. as 重复申请, r5_2) before its case can go.
    open_request = (await session.execute(
        select(DisclosureRequest.id).where(DisclosureRequest.case_id == duplicate.id,
                                           DisclosureRequest.outcome.is_(None)))).first()
    if open_request is not None:
        raise CaseError("该案件已登记为政府信息公开申请且尚未答复：请先在“政府信息公开”页面作出答复"
                        "（重复申请可答复为“不予处理—重复申请”），再合并", "target")
    now = _now()
    previous = duplicate.status
    duplicate.merged_into_id = target.id
    duplicate.waiting_since = None
    duplicate.status = "closed"
    duplicate.closed_at = duplicate.closed_at or now
    duplicate.version += 1
    duplicate.updated_at = now
    target.last_message_at = max(target.last_message_at, duplicate.last_message_at)
    target.version += 1
    target.updated_at = now
    session.add(AuditEntry(actor=actor.label, action="case.merged", case_id=duplicate.id,
                           detail={"into": target.id, "into_number": target.number, "status": [previous, "closed"]}))
    session.add(AuditEntry(actor=actor.label, action="case.merged_in", case_id=target.id,
                           detail={"from": duplicate.id, "from_number": duplicate.number}))
    return duplicate


async def retry_reply(session: AsyncSession, case: Case, message: Message, actor: Actor) -> OutboxItem:
    """Send a reply the channel refused again (e.g. once the citizen wrote
    again and WeChat's window reopened): a new outbox item with the payload
    the failed one carried."""
    target = OUTBOUND_TARGETS.get(case.channel)
    if message.case_id != case.id or message.direction != "out" or target is None:
        raise CaseError("这条答复不能重新发送", "message")
    if message.status != "failed":
        raise CaseError("只有发送失败的答复可以重新发送", "message")
    previous = (await session.execute(
        select(OutboxItem.payload).where(OutboxItem.message_id == message.id).order_by(OutboxItem.id.desc()).limit(1)
    )).scalar_one_or_none()
    now = _now()
    message.status, message.error = "pending", None
    item = OutboxItem(target=target, case_id=case.id, message_id=message.id,
                      payload=previous or {"text": message.text, "external_id": case.external_id}, next_attempt_at=now)
    session.add(item)
    case.version += 1
    case.updated_at = now
    session.add(AuditEntry(actor=actor.label, action="case.reply_retried", case_id=case.id,
                           detail={"message_id": message.id}))
    return item


async def record_delivery(session: AsyncSession, case: Case, message: Message, delivered_by: str, actor: Actor) -> Message:
    """A reply the channel refused was delivered another way (phone, letter…)."""
    delivered_by = (delivered_by or "").strip()[:50]
    if not delivered_by:
        raise CaseError("请填写送达方式，例如：电话告知", "delivered_by")
    if message.case_id != case.id or message.direction != "out" or message.status != "failed":
        raise CaseError("只有发送失败的答复可以改为其他方式送达", "message")
    now = _now()
    message.status = "sent"
    message.error = f"{message.error or ''}（已改为{delivered_by}送达）"
    case.version += 1
    case.updated_at = now
    session.add(AuditEntry(actor=actor.label, action="case.reply_delivered", case_id=case.id,
                           detail={"message_id": message.id, "via": delivered_by}))
    return message
