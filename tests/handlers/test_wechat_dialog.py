"""The WeChat disclosure dialog end to end: a protocol-faithful WeChat peer
posts encrypted pushes to the real server (SQLite and PostgreSQL). The
first message is a case at once; each answer fills its registration; a
citizen who stops or leaves behind a case with a partial registration."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import event, func, select, update
from sqlalchemy.engine import Engine

from bot.domain import disclosure as dz
from storage.models import AuditEntry, Case, DisclosureDialog, DisclosureRequest, Message
from tests.conftest import WECHAT
from tests.inbox_staff import add_user, login
from tests.wechat_peer import WeChatPeer, case_number_in

pytestmark = pytest.mark.usefixtures("next_year_entered")

peer = WeChatPeer(WECHAT["token"], WECHAT["aes_key"], WECHAT["app_id"], WECHAT["account"])
_ids = iter(range(5_000_000, 6_000_000))
REQUEST = "我想申请政府信息公开，公开2023年人防易地建设费收支情况"


async def say(server, user: str, text: str, msg_id: int | None = None) -> str:
    xml = peer.text(user, text, msg_id=msg_id or next(_ids), create_time=int(time.time()))
    query, body = peer.push(xml, "safe")
    resp = await server.post("/wechat", params=query, data=body)
    assert resp.status == 200
    reply = peer.open_reply(await resp.text(), query)["Content"]
    assert len(reply.encode("utf-8")) < 2000
    return reply


async def count(server, model) -> int:
    async with server.runtime.db.session() as s:
        return (await s.execute(select(func.count()).select_from(model))).scalar_one()


async def registration(server, number: str) -> tuple[Case, DisclosureRequest | None]:
    async with server.runtime.db.session() as s:
        case = (await s.execute(select(Case).where(Case.number == number))).scalar_one()
        req = (await s.execute(select(DisclosureRequest).where(DisclosureRequest.case_id == case.id))).scalar_one_or_none()
    return case, req


async def thread_of(server, case_id: int) -> list[str]:
    async with server.runtime.db.session() as s:
        return list((await s.execute(select(Message.text).where(
            Message.case_id == case_id, Message.direction == "in").order_by(Message.id))).scalars())


async def test_the_first_message_is_a_case_and_each_answer_fills_its_registration(server):
    first = await say(server, "oApplicant", REQUEST)
    number = case_number_in(first)
    assert number and "第二十九条" in first and "第1步" in first and "取消" in first
    case, req = await registration(server, number)
    assert case.kind == "disclosure_request" and case.channel == "wechat" and case.status == "new"
    assert req is not None and req.receipt_basis == "confirmed"
    assert dz.missing_fields(req) == ["name", "contact", "description", "delivery_form"]

    # A question is not a name: the law is explained and the step asked again, with an example.
    why = await say(server, "oApplicant", "为什么要我的名字？我只是想看看")
    assert "第二十九条" in why and "例如" in why and "第1步" in why
    _, req = await registration(server, number)
    assert req.applicant_name is None
    assert "第1步" in await say(server, "oApplicant", "<b>###☺")  # odd characters: asked again
    assert "第2步" in await say(server, "oApplicant", "王小明")
    _, req = await registration(server, number)
    assert req.applicant_name == "王小明" and dz.missing_fields(req) == ["contact", "description", "delivery_form"]

    again = await say(server, "oApplicant", "不告诉你")  # not a phone or e-mail: asked again, with an example
    assert "手机号码" in again and "例如" in again and "第2步" in again
    assert "第3步" in await say(server, "oApplicant", "137 1234 5678")
    assert "第4步" in await say(server, "oApplicant", "2023年人防易地建设费收支情况表")
    done = await say(server, "oApplicant", "2")
    assert case_number_in(done) == number and "登记完整" in done and "第三十一条" in done
    assert f"查询 {number}" in done

    case, req = await registration(server, number)
    assert dz.missing_fields(req) == []
    assert req.applicant_name == "王小明" and req.delivery_form == "电子邮件"
    assert req.description == "2023年人防易地建设费收支情况表"
    assert dz.reveal(req.contact_protected, server.runtime.settings.secret_key) == "13712345678"
    assert "13712345678" not in (req.contact_protected or "")  # stored encrypted
    assert f"{req.receipt_date.year}年{req.receipt_date.month}月{req.receipt_date.day}日" in done
    assert case.deadline_at is not None and req.answer_due is not None
    assert await count(server, Case) == 1 and await count(server, DisclosureRequest) == 1
    # Every message of the dialog is the case's thread, as it came.
    assert await thread_of(server, case.id) == [
        REQUEST, "为什么要我的名字？我只是想看看", "<b>###☺", "王小明", "不告诉你", "137 1234 5678",
        "2023年人防易地建设费收支情况表", "2"]
    # The dialog's row keeps no personal data: the registration holds it, encrypted.
    async with server.runtime.db.session() as s:
        dialog = await s.get(DisclosureDialog, "oApplicant")
    assert dialog.step == "done" and "王小明" not in str(dialog.data) and "13712345678" not in str(dialog.data)
    # The dialog is over: the next message gets an ordinary receipt, no dialog step.
    after = await say(server, "oApplicant", "请问人防车位可以买卖吗？")
    assert case_number_in(after) and "步" not in after and "第二十九条" not in after


async def test_an_abandoned_dialog_is_a_case_with_a_partial_registration_staff_can_see(server):
    first = await say(server, "oLeaver", REQUEST)
    number = case_number_in(first)
    await say(server, "oLeaver", "李四")
    # The citizen writes nothing more: a day later the dialog is over, the case stays.
    async with server.runtime.db.session() as s:
        await s.execute(update(DisclosureDialog).where(DisclosureDialog.openid == "oLeaver")
                        .values(updated_at=datetime.now(timezone.utc) - timedelta(hours=25)))
        await s.commit()
    later = await say(server, "oLeaver", "请问人防车位可以买卖吗？")
    assert "第3步" not in later and "步" not in later
    case, req = await registration(server, number)
    assert case.kind == "disclosure_request" and req.applicant_name == "李四"
    assert dz.missing_fields(req) == ["contact", "description", "delivery_form"]

    await add_user(server.runtime, "wangwu")
    await login(server, "wangwu")
    page = await (await server.get(f"/inbox/cases/{case.id}")).text()
    assert "登记不完整，尚缺：联系方式、申请公开的信息、获取方式" in page
    page = await (await server.get(f"/inbox/cases/{case.id}/disclosure")).text()
    assert "登记不完整，尚缺：联系方式、申请公开的信息、获取方式" in page and "李四" in page
    listing = await (await server.get("/inbox/disclosure")).text()
    assert number in listing and "登记不完整" in listing
    # The JSON API says the same.
    from tests.conftest import make_token
    token = await make_token(server.runtime, "apiuser")
    got = await (await server.get(f"/api/v1/cases/{case.id}/disclosure",
                                  headers={"Authorization": f"Bearer {token}"})).json()
    assert got["missing"] == ["contact", "description", "delivery_form"]


@pytest.mark.parametrize("stop", ["算了，不办了", "不用了", "取消", "退出", "算了"])
async def test_plain_ways_of_stopping_end_the_dialog_and_keep_the_case(server, stop):
    first = await say(server, "oQuitter", REQUEST)
    number = case_number_in(first)
    await say(server, "oQuitter", "李四")
    reply = await say(server, "oQuitter", stop)
    assert "已停止" in reply and number in reply
    case, req = await registration(server, number)
    assert req is not None and req.applicant_name == "李四" and req.contact_protected is None
    assert await count(server, Case) == 1
    assert await thread_of(server, case.id) == [REQUEST, "李四", stop]
    async with server.runtime.db.session() as s:
        actions = (await s.execute(select(AuditEntry.action).where(AuditEntry.case_id == case.id))).scalars().all()
    assert "disclosure.dialog_stopped" in actions
    # The stop word was not taken as an answer, and the dialog is over.
    after = await say(server, "oQuitter", "13712345678")
    assert "第3步" not in after
    _, req = await registration(server, number)
    assert req.contact_protected is None


async def test_a_stop_word_at_the_first_step_is_not_taken_as_a_name(server):
    number = case_number_in(await say(server, "oQuitter2", REQUEST))
    assert "已停止" in await say(server, "oQuitter2", "算了吧，不申请了")
    _, req = await registration(server, number)
    assert req.applicant_name is None


async def test_a_retried_message_does_not_advance_the_dialog_twice(server):
    first = await say(server, "oRetry", REQUEST, msg_id=42)
    again = await say(server, "oRetry", REQUEST, msg_id=42)
    assert again == first and "第1步" in again
    assert await count(server, Case) == 1
    ask_contact = await say(server, "oRetry", "赵六", msg_id=43)
    # WeChat retries the same push three times, possibly at once.
    replies = await asyncio.gather(*(say(server, "oRetry", "赵六", msg_id=43) for _ in range(3)))
    assert set(replies) == {ask_contact}
    async with server.runtime.db.session() as s:
        dialog = await s.get(DisclosureDialog, "oRetry")
    assert dialog.step == "contact"
    await say(server, "oRetry", "zhao6@example.com", msg_id=44)
    await say(server, "oRetry", "人防工程竣工验收备案文件", msg_id=45)
    done = await say(server, "oRetry", "1", msg_id=46)
    done_again = await say(server, "oRetry", "1", msg_id=46)
    assert done_again == done and case_number_in(done) == case_number_in(first)
    assert await count(server, DisclosureRequest) == 1 and await count(server, Case) == 1
    # A late retry of the first message neither restarts the dialog nor makes a case.
    assert await say(server, "oRetry", REQUEST, msg_id=42) == first
    assert await count(server, Case) == 1
    async with server.runtime.db.session() as s:
        assert (await s.get(DisclosureDialog, "oRetry")).step == "done"


async def test_a_disclosure_request_opens_its_own_case_beside_an_open_one(server):
    receipt = await say(server, "oBoth", "小区人防工程漏水没人管")
    request = await say(server, "oBoth", REQUEST)
    assert case_number_in(receipt) != case_number_in(request)
    assert await count(server, Case) == 2


async def test_ordinary_messages_pass_through_to_the_normal_receipt(server):
    reply = await say(server, "oCitizen", "请问人防车位可以买卖吗？")
    assert case_number_in(reply) and "第二十九条" not in reply
    assert await count(server, DisclosureDialog) == 0 and await count(server, DisclosureRequest) == 0


async def test_a_burst_of_requests_is_registered_in_the_recordings_own_commits(server, monkeypatch):
    """Each request's case, its partial registration and its dialog row are
    written in the transaction that records the message (the group
    committer's, shared by the messages of the moment), not in a second
    transaction per request: a burst costs no more commits than its
    batches, and every request comes out registered."""
    rt = server.runtime
    writes = []
    plain = rt.db.writer.transaction

    async def counted(fn, *args):
        writes.append(fn)
        return await plain(fn, *args)

    monkeypatch.setattr(rt.db.writer, "transaction", counted)
    statements: list[str] = []

    def seen(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(Engine, "before_cursor_execute", seen)  # every engine: SQLite's writer has its own
    batches = rt.committer.batches
    users = [f"oBurst{i}" for i in range(6)]
    try:
        replies = await asyncio.gather(*(say(server, user, REQUEST) for user in users))
    finally:
        event.remove(Engine, "before_cursor_execute", seen)
    assert len(writes) == rt.committer.batches - batches  # one transaction per batch, nothing else
    # The requests' cases are loaded once per batch, not once per request
    # (each load flushed the session: a round of statements per request).
    loads = [s for s in statements if s.lstrip().startswith("SELECT cases.id")]
    assert len(loads) <= len(writes), (len(writes), len(loads))
    dialog_rows = [s for s in statements if s.lstrip().startswith("INSERT INTO disclosure_dialogs")]
    assert len(dialog_rows) <= len(writes), (len(writes), len(dialog_rows))  # one executemany per batch
    if rt.db.dialect == "postgresql":  # where a statement is a round trip: the registrations in one
        registrations = [s for s in statements if s.lstrip().startswith("INSERT INTO disclosure_requests")]
        assert len(registrations) <= len(writes), (len(writes), len(registrations))
    for user, reply in zip(users, replies):
        number = case_number_in(reply)
        assert number and "第1步" in reply
        case, req = await registration(server, number)
        assert case.kind == "disclosure_request" and req is not None and req.receipt_basis == "confirmed"
        async with rt.db.session() as s:
            dialog = await s.get(DisclosureDialog, user)
        assert dialog.step == "name" and dialog.data["number"] == number
    # The dialog goes on from there as before.
    answer = await say(server, users[0], "张三")
    assert "第2步" in answer
