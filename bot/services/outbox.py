"""The outbox for staff: what is waiting to go out (12345 messages, WeChat
messages), what went, what failed and why; trying a failed one again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from bot.domain.actors import Actor
from bot.domain.errors import Conflict, InvalidInput, NotFound
from storage.database import Tx
from storage.models import Case, OutboxItem
from storage.queries import audit
from storage.queries import outbox as q

from .runtime import Runtime

STATUSES = q.STATUSES


@dataclass(frozen=True)
class OutboxPage:
    items: list[tuple[OutboxItem, str | None]]  # (item, case number)
    total: int
    counts: dict[str, int]  # by status, every status present
    next_before: int | None


async def listing(rt: Runtime, *, status: str | None = None, target: str | None = None, case_id: int | None = None,
                  limit: int = 50, before_id: int | None = None) -> OutboxPage:
    if status is not None and status not in STATUSES:
        raise InvalidInput(f"status 必须是 {', '.join(STATUSES)} 之一", "status")

    def load(tx: Tx) -> OutboxPage:
        rows, total, counts = q.listing(tx.session, status=status, target=target, case_id=case_id, limit=limit + 1,
                                        before_id=before_id)
        more, rows = len(rows) > limit, rows[:limit]
        return OutboxPage(rows, total, {s: counts.get(s, 0) for s in STATUSES}, rows[-1][0].id if more else None)

    return await rt.db.read(load)


async def retry(rt: Runtime, actor: Actor, item_id: int) -> tuple[OutboxItem, str | None]:
    """Staff asked to try a failed delivery again: its attempts start afresh."""

    def again(tx: Tx) -> tuple[OutboxItem, str | None]:
        s = tx.session
        item = s.get(OutboxItem, item_id)
        if item is None:
            raise NotFound("没有这条待发记录")
        if item.status != "failed":
            raise Conflict("只有发送失败的记录可以重试", "status")
        now = datetime.now(timezone.utc)
        item.status, item.attempts, item.next_attempt_at, item.locked_until = "pending", 0, now, None
        if item.message_id:
            q.set_message_status(s, item.message_id, "pending")
        audit.add(s, actor.label, "outbox.retry", item.case_id, item_id=item.id)
        case = s.get(Case, item.case_id) if item.case_id else None
        return item, case.number if case else None

    result = await rt.db.write(again)
    rt.outbox_queued()
    return result
