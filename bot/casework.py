"""Staff actions on a case, shared by the JSON API and the inbox: each
validates, changes the case, and writes the audit trail in the caller's
transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from nlp.base import KINDS, TOPICS
from storage.models import AuditEntry, Case, Correction, Message, OutboxItem, User

from .cases import STATUSES
from .hotline import result_payload

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
    session: AsyncSession, case: Case, changes: dict, actor: Actor, *, expected_version: int | None = None
) -> Case:
    """Apply ``kind``, ``topic``, ``status``, ``assignee`` (a user name or None)."""
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
    if diff:
        case.version += 1
        case.updated_at = now
        session.add(AuditEntry(actor=actor.label, action="case.updated", case_id=case.id, detail=diff))
    return case


async def add_reply(session: AsyncSession, case: Case, text: str, actor: Actor, *, delivered_by: str | None = None) -> Message:
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
                           detail={"message_id": message.id, "via": target or (delivered_by or case.channel)}))
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
