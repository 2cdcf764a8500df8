"""The one recording path, seen from the service: a manual entry repeated
in the same write is one case, and the repeat is noted on it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from bot.domain.intake import InboundMessage
from bot.services.intake import record
from storage.models import AuditEntry


async def test_a_letter_entered_twice_in_one_write_is_one_case_and_the_repeat_is_logged(server):
    rt = server.runtime
    text = "我单位申请公开2019年人防工程竣工验收备案表"
    item = InboundMessage(channel="platform", identity="13800001234", text=text, external_id="PT-2020-0002",
                          received_at=datetime.now(timezone.utc) - timedelta(hours=1),
                          classification=rt.classifier.classify(text), entered_by="token:zhangsan")
    first, repeat = await record(rt, [item, item])
    assert first.created and repeat.duplicate and repeat.case_id == first.case_id
    async with rt.db.session() as s:
        entries = (await s.execute(select(AuditEntry.actor, AuditEntry.action)
                                   .where(AuditEntry.case_id == first.case_id))).all()
    assert entries.count(("token:zhangsan", "case.entered")) == 1
    assert entries.count(("token:zhangsan", "case.entry_duplicate")) == 1
