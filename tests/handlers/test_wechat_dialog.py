"""The WeChat disclosure dialog end to end: a protocol-faithful WeChat peer
posts encrypted pushes to the real server (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import func, select

from storage.models import Case, DisclosureDialog, DisclosureRequest, Message
from tests.conftest import WECHAT
from tests.wechat_peer import WeChatPeer, case_number_in

peer = WeChatPeer(WECHAT["token"], WECHAT["aes_key"], WECHAT["app_id"], WECHAT["account"])
_ids = iter(range(5_000_000, 6_000_000))
REQUEST = "我想申请政府信息公开，公开2023年人防易地建设费收支情况"


async def say(server, user: str, text: str, msg_id: int | None = None) -> str:
    xml = peer.text(user, text, msg_id=msg_id or next(_ids), create_time=int(time.time()))
    query, body = peer.push(xml, "safe")
    resp = await server.post("/wechat", params=query, data=body)
    assert resp.status == 200
    return peer.open_reply(await resp.text(), query)["Content"]


async def count(server, model) -> int:
    async with server.runtime.db.session() as s:
        return (await s.execute(select(func.count()).select_from(model))).scalar_one()


async def test_a_request_is_taken_in_four_steps_and_registered_with_its_receipt_date(server):
    first = await say(server, "oApplicant", REQUEST)
    assert "第二十九条" in first and "第1步" in first and "取消" in first
    assert case_number_in(first) is None and await count(server, Case) == 0
    assert "第2步" in await say(server, "oApplicant", "王小明")
    assert "手机号码" in await say(server, "oApplicant", "不告诉你")  # not a phone or e-mail: asked again
    assert "第3步" in await say(server, "oApplicant", "13712345678")
    assert "第4步" in await say(server, "oApplicant", "2023年人防易地建设费收支情况表")
    done = await say(server, "oApplicant", "2")
    number = case_number_in(done)
    assert number and "收到申请日期" in done and "第三十一条" in done
    async with server.runtime.db.session() as s:
        case = (await s.execute(select(Case).where(Case.number == number))).scalar_one()
        req = (await s.execute(select(DisclosureRequest).where(DisclosureRequest.case_id == case.id))).scalar_one()
        thread = (await s.execute(select(Message.text, Message.reply_text).where(
            Message.case_id == case.id, Message.direction == "in").order_by(Message.id))).all()
    assert case.kind == "disclosure_request" and case.channel == "wechat" and case.deadline_at is not None
    assert req.receipt_basis == "confirmed" and req.delivery_form == "电子邮件" and req.applicant_name == "王小明"
    assert f"{req.receipt_date.year}年{req.receipt_date.month}月{req.receipt_date.day}日" in done
    assert "13712345678" not in (req.contact_protected or "")
    # Every step of the dialog was logged as it came and is now the case's thread.
    assert [t for t, _ in thread[:-1]] == [REQUEST, "王小明", "不告诉你", "13712345678", "2023年人防易地建设费收支情况表"]
    assert thread[0][1].startswith("您好，您要申请政府信息公开")
    # The last message (the choice "2") is stored as the application it completes.
    assert thread[-1][0] == case.text and "电子邮件" in case.text and thread[-1][1] == done
    # The dialog is over: the next message gets the ordinary receipt, no dialog step.
    after = await say(server, "oApplicant", "请问人防车位可以买卖吗？")
    assert case_number_in(after) and "步" not in after and "第二十九条" not in after


async def test_cancel_at_any_step_registers_nothing(server):
    await say(server, "oQuitter", REQUEST)
    await say(server, "oQuitter", "李四")
    reply = await say(server, "oQuitter", "取消")
    assert "已取消" in reply
    assert await count(server, Case) == 0 and await count(server, DisclosureRequest) == 0
    # Nothing the citizen wrote is lost, even without a case.
    async with server.runtime.db.session() as s:
        texts = (await s.execute(select(Message.text).where(Message.direction == "in").order_by(Message.id))).scalars().all()
    assert texts == [REQUEST, "李四", "取消"]
    # "退出" right at the start works too.
    await say(server, "oQuitter2", REQUEST)
    assert "已取消" in await say(server, "oQuitter2", "退出")
    assert await count(server, DisclosureRequest) == 0


async def test_a_retried_message_does_not_advance_the_dialog_twice(server):
    await say(server, "oRetry", REQUEST, msg_id=42)
    again = await say(server, "oRetry", REQUEST, msg_id=42)
    assert "第1步" in again
    ask_contact = await say(server, "oRetry", "赵六", msg_id=43)
    # WeChat retries the same push three times, possibly at once.
    replies = await asyncio.gather(*(say(server, "oRetry", "赵六", msg_id=43) for _ in range(3)))
    assert set(replies) == {ask_contact}
    async with server.runtime.db.session() as s:
        dialog = await s.get(DisclosureDialog, "oRetry")
    assert dialog.step == "contact" and dialog.data["name"] == "赵六"
    await say(server, "oRetry", "zhao6@example.com", msg_id=44)
    await say(server, "oRetry", "人防工程竣工验收备案文件", msg_id=45)
    done = await say(server, "oRetry", "1", msg_id=46)
    done_again = await say(server, "oRetry", "1", msg_id=46)
    assert done_again == done and case_number_in(done)
    assert await count(server, DisclosureRequest) == 1 and await count(server, Case) == 1


async def test_ordinary_messages_pass_through_to_the_normal_receipt(server):
    reply = await say(server, "oCitizen", "请问人防车位可以买卖吗？")
    assert case_number_in(reply) and "第二十九条" not in reply
    assert await count(server, DisclosureDialog) == 0
