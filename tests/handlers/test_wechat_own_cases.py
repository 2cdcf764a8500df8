"""`查询` on WeChat end to end (SQLite and PostgreSQL): signed, encrypted
pushes from a protocol-faithful peer to the real server. A citizen sees
their own cases and nobody else's; staff replies are shown without staff
names; a look-up stores nothing."""

from __future__ import annotations

import time

from sqlalchemy import func, select

from bot.domain import own_cases
from storage.models import Case, Message
from tests.conftest import WECHAT, make_token
from tests.wechat_peer import WeChatPeer, case_number_in

peer = WeChatPeer(WECHAT["token"], WECHAT["aes_key"], WECHAT["app_id"], WECHAT["account"])
_ids = iter(range(7_000_000, 8_000_000))
REQUEST = "我想申请政府信息公开，公开2023年人防易地建设费收支情况"


async def send(server, xml: str) -> str:
    query, body = peer.push(xml, "safe")
    resp = await server.post("/wechat", params=query, data=body)
    assert resp.status == 200
    reply = peer.open_reply(await resp.text(), query)["Content"]
    assert len(reply.encode("utf-8")) < 2000
    return reply


async def say(server, user: str, text: str) -> str:
    return await send(server, peer.text(user, text, msg_id=next(_ids), create_time=int(time.time())))


async def stored(server) -> tuple[int, int]:
    async with server.runtime.db.session() as s:
        return ((await s.execute(select(func.count()).select_from(Case))).scalar_one(),
                (await s.execute(select(func.count()).select_from(Message))).scalar_one())


async def case_id_of(server, number: str) -> int:
    async with server.runtime.db.session() as s:
        return (await s.execute(select(Case.id).where(Case.number == number))).scalar_one()


async def test_the_list_shows_the_senders_own_recent_cases_newest_first(server):
    assert await say(server, "oNobody", "查询") == own_cases.NONE_YET
    complaint = case_number_in(await say(server, "oAlice", "小区人防工程漏水没人管"))
    request = case_number_in(await say(server, "oAlice", REQUEST))
    other = case_number_in(await say(server, "oBob", "举报有人出售人防车位"))
    before = await stored(server)

    listing = await say(server, "oAlice", "查询")
    assert listing.index(request) < listing.index(complaint)  # newest first
    assert "政府信息公开申请" in listing and "新收" in listing and "受理" in listing
    assert other not in listing
    assert f"查询 {request}" in listing  # how to see one
    # The same with full-width characters and spaces around.
    assert await say(server, "oAlice", "  查询 ") == listing
    # A look-up stores nothing: no case, no message.
    assert await stored(server) == before


async def test_the_list_stops_at_the_five_latest(server):
    numbers = []
    for i in range(7):  # seven requests, each dialog stopped at once: seven cases
        numbers.append(case_number_in(await say(server, "oMany", f"{REQUEST}（第{i}份）")))
        await say(server, "oMany", "算了")
    listing = await say(server, "oMany", "查询")
    assert [n for n in numbers if n in listing] == numbers[-5:]


async def test_one_case_shows_status_dates_and_the_replies_sent_without_staff_names(server):
    number = case_number_in(await say(server, "oCarol", "小区人防工程漏水没人管"))
    case_id = await case_id_of(server, number)
    token = await make_token(server.runtime, "lisi", display_name="李思思")
    resp = await server.post(f"/api/v1/cases/{case_id}/replies", headers={"Authorization": f"Bearer {token}"},
                             json={"text": "已转物业核实，联系电话13912345678，请稍候。", "type": "interim"})
    assert resp.status in (200, 201), await resp.text()
    async with server.runtime.db.session() as s:
        from storage.models import CaseNote
        s.add(CaseNote(case_id=case_id, author_id=None, text="内部备注：此人多次投诉"))
        await s.commit()

    detail = await say(server, "oCarol", f"查询 {number}")
    assert f"受理编号：{number}" in detail and "状态：" in detail and "受理日期：" in detail
    assert "办理期限：" in detail
    assert "已转物业核实" in detail and "139****5678" in detail and "13912345678" not in detail
    assert "李思思" not in detail and "lisi" not in detail and "内部备注" not in detail
    # The automatic receipt is not a reply.
    assert "已收到" not in detail.split("答复：", 1)[1]
    # Lower case and a colon work too.
    assert await say(server, "oCarol", f"查询：{number.lower()}") == detail


async def test_a_case_without_replies_says_so(server):
    number = case_number_in(await say(server, "oDan", "小区人防工程漏水没人管"))
    assert own_cases.NO_REPLY_YET in await say(server, "oDan", f"查询 {number}")


async def test_another_persons_number_an_unknown_one_and_a_malformed_one_get_the_same_answer(server):
    number = case_number_in(await say(server, "oErin", "小区人防工程漏水没人管"))
    assert number in await say(server, "oErin", f"查询 {number}")
    before = await stored(server)
    answers = {
        await say(server, "oMallory", f"查询 {number}"),  # someone else's case
        await say(server, "oMallory", "查询 WX20000101-9999"),  # no such case
        await say(server, "oMallory", "查询 <script>alert(1)</script>"),  # odd characters
        await say(server, "oMallory", "查询 ' OR 1=1 --"[:8]),
        await say(server, "oMallory", "查询 " + "9" * 60),
    }
    assert answers == {own_cases.NOT_FOUND}
    assert number not in own_cases.NOT_FOUND
    assert await stored(server) == before


async def test_a_long_reply_is_cut_to_fit_wechats_limit(server):
    number = case_number_in(await say(server, "oFrank", "小区人防工程漏水没人管"))
    token = await make_token(server.runtime, "zhaoliu")
    for text in ("第一次答复：已受理。", "第二次答复：" + "经核查，" * 400):
        resp = await server.post(f"/api/v1/cases/{await case_id_of(server, number)}/replies",
                                 headers={"Authorization": f"Bearer {token}"}, json={"text": text, "type": "interim"})
        assert resp.status in (200, 201), await resp.text()
    detail = await say(server, "oFrank", f"查询 {number}")  # say() checks the 2000-byte limit
    assert "第二次答复" in detail and "未全部显示" in detail


async def test_the_menu_button_sends_the_same_as_the_text(server):
    number = case_number_in(await say(server, "oGrace", "小区人防工程漏水没人管"))
    by_text = await say(server, "oGrace", "查询")
    by_button = await send(server, peer.event("oGrace", "CLICK", own_cases.MENU_KEY, create_time=int(time.time())))
    assert by_button == by_text and number in by_button


async def test_a_look_up_in_the_middle_of_the_dialog_leaves_the_dialog_where_it_was(server):
    number = case_number_in(await say(server, "oHeidi", REQUEST))
    assert "第2步" in await say(server, "oHeidi", "王小明")
    assert number in await say(server, "oHeidi", "查询")
    assert "第3步" in await say(server, "oHeidi", "13712345678")


async def test_a_message_that_merely_starts_with_the_word_is_an_ordinary_message(server):
    reply = await say(server, "oIvan", "查询一下人防车位能不能买卖")
    assert case_number_in(reply) and reply != own_cases.NOT_FOUND
