"""Instant answers end to end: a WeChat peer posts (safe mode) to the real
server; replies are decrypted and read as the citizen would; the database is
checked as staff would see it. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select

from bot.domain.actors import Actor
from bot.domain.answers import entry_data
from bot.exports.documents import read_document
from bot.services import knowledge
from storage.models import AuditEntry, Case, KbAnswer, Message
from tests.conftest import WECHAT
from tests.wechat_peer import WeChatPeer, case_number_in

peer = WeChatPeer(WECHAT["token"], WECHAT["aes_key"], WECHAT["app_id"], WECHAT["account"])
STARTER = "deploy/knowledge_base.yaml"
SIREN_ANSWER_MARK = "试鸣时间"
PARKING_MARK = "不能买卖"


BLANK = re.compile(r"【[^【】\n]*】")
FILLED = {"【3】": "3", "【请填写电话】": "0571-12345"}


def filled_starter() -> dict:
    """The starter knowledge base as an office takes it live: its 【…】
    blanks filled in (an answer still holding one is not used)."""
    doc = read_document(STARTER)
    for e in doc["entries"]:
        e["answer"] = BLANK.sub(lambda m: FILLED.get(m.group(0), "https://rfb.example.gov.cn/"), e["answer"])
    return doc


def today_local(server):
    return datetime.now(server.runtime.settings.tz).date()


async def load_starter(server, *, siren_day=None):
    """The starter knowledge base, filled in, with the siren-test notice
    valid today (as the office would set it for this year's siren day)."""
    doc = filled_starter()
    day = siren_day or today_local(server)
    for e in doc["entries"]:
        if e["key"] == "siren-test-day":
            e["valid_from"], e["valid_to"] = day - timedelta(days=1), day
    await knowledge.import_document(server.runtime.db, doc, Actor("test"))
    await server.runtime.knowledge.reload()


async def post(server, xml: str):
    query, body = peer.push(xml, "safe")
    resp = await server.post("/wechat", params=query, data=body.encode())
    assert resp.status == 200
    return peer.open_reply(await resp.text(), query)


async def count(server, model, *where) -> int:
    async with server.runtime.db.session() as s:
        return (await s.execute(select(func.count()).select_from(model).where(*where))).scalar_one()


async def test_siren_question_is_answered_on_the_spot(server):
    await load_starter(server)
    reply = await post(server, peer.text("oSiren1", "今天几点拉警报？", msg_id=501))
    content = reply["Content"]
    assert SIREN_ANSWER_MARK in content and "不是真实空袭" in content
    number = case_number_in(content)
    assert number and "自动答复" in content
    async with server.runtime.db.session() as s:
        case = (await s.execute(select(Case).where(Case.number == number))).scalar_one()
        assert case.status == "answered" and case.answered_at == case.received_at
        assert case.topic == "siren"
        logged = (await s.execute(select(KbAnswer).where(KbAnswer.case_id == case.id))).scalar_one()
        assert logged.entry_key == "siren-test-day" and logged.score >= 0.45
        audit = (await s.execute(select(AuditEntry).where(AuditEntry.case_id == case.id,
                                                          AuditEntry.action == "kb.auto_answered"))).scalar_one()
        assert audit.detail["entry"] == "siren-test-day" and audit.detail["score"] == round(logged.score, 3)
        out = (await s.execute(select(Message).where(Message.case_id == case.id, Message.direction == "out"))).scalar_one()
        assert out.text == content

    metrics = await (await server.get("/metrics")).text()
    assert 'intake_wechat_answers_total{entry="siren-test-day",how="kb"}' in metrics

    # WeChat retries the same delivery: the same reply, still one case.
    again = await post(server, peer.text("oSiren1", "今天几点拉警报？", msg_id=501))
    assert again["Content"] == content
    assert await count(server, Case) == 1


async def test_varied_wording_and_the_next_question_is_a_new_case(server):
    await load_starter(server)
    now = int(time.time())
    r1 = await post(server, peer.text("oSiren2", "刚才外面的警报是怎么回事啊", create_time=now))
    r2 = await post(server, peer.text("oSiren2", "人防车位可以卖吗", create_time=now + 30))
    assert SIREN_ANSWER_MARK in r1["Content"] and PARKING_MARK in r2["Content"]
    # The first case was settled by its answer, so the second question does
    # not join it.
    assert case_number_in(r1["Content"]) != case_number_in(r2["Content"])
    assert await count(server, Case, Case.status == "answered") == 2


async def test_no_match_gets_the_normal_receipt(server):
    await load_starter(server)
    reply = await post(server, peer.text("oPlain", "我们小区的人防工程漏水好几个月了没人修"))
    assert "自动答复" not in reply["Content"] and "工作日" in reply["Content"]
    assert await count(server, Case, Case.status == "new") == 1
    assert await count(server, KbAnswer) == 0


async def test_siren_notice_only_on_its_days(server):
    day = today_local(server) + timedelta(days=30)  # the notice is for a day a month away
    await load_starter(server, siren_day=day)
    reply = await post(server, peer.text("oEarly", "今天几点拉警报"))
    assert SIREN_ANSWER_MARK not in reply["Content"]


async def test_entry_that_needs_a_person_says_so_and_stays_open(server):
    await load_starter(server)
    reply = await post(server, peer.text("oFee", "易地建设费可以减免吗"))
    content = reply["Content"]
    assert "减免" in content and "工作人员将在" in content and "跟进" in content
    async with server.runtime.db.session() as s:
        case = (await s.execute(select(Case).where(Case.number == case_number_in(content)))).scalar_one()
        assert case.status == "new" and case.answered_at is None


async def test_a_complaint_gets_the_answer_but_a_person_follows_up(server):
    await load_starter(server)
    reply = await post(server, peer.text("oAngry", "我要投诉开发商卖人防车位，人防车位可以买卖吗"))
    content = reply["Content"]
    assert PARKING_MARK in content and "工作人员将在" in content
    async with server.runtime.db.session() as s:
        case = (await s.execute(select(Case).where(Case.number == case_number_in(content)))).scalar_one()
        # a question beside a declared complaint: the complaint is the kind or the second request
        assert {"complaint", "report"} & {case.kind, case.secondary_kind} and case.status == "new", (
            case.kind, case.secondary_kind)


async def test_keyword_rule_answers_without_a_case(server):
    await load_starter(server)
    reply = await post(server, peer.text("oHuman", "转人工", msg_id=777))
    assert "人工服务" in reply["Content"] and case_number_in(reply["Content"]) is None
    again = await post(server, peer.text("oHuman", "转人工", msg_id=777))
    assert again["Content"] == reply["Content"]
    assert await count(server, Case) == 0
    async with server.runtime.db.session() as s:
        stored = (await s.execute(select(Message).where(Message.direction == "in"))).scalars().all()
    assert [m.text for m in stored] == ["转人工"] and stored[0].reply_text == reply["Content"]


async def test_menu_click_is_answered_from_the_knowledge_base(server):
    await load_starter(server)
    reply = await post(server, peer.event("oMenu", "CLICK", key="parking-sale"))
    assert PARKING_MARK in reply["Content"]
    reply = await post(server, peer.event("oMenu", "CLICK", key="no-such-entry"))
    assert reply is None  # "success": stored, nothing to say
    assert await count(server, Case) == 0
    assert await count(server, Message, Message.msg_type == "event:click") == 2


async def test_welcome_text_is_the_offices(server):
    await load_starter(server)
    reply = await post(server, peer.event("oNew", "subscribe"))
    assert "回复“人工”" in reply["Content"]  # the starter file's welcome, not the built-in one


async def test_disclosure_dialog_goes_first(server):
    """The disclosure dialog gets the messages of a user in the middle of it,
    before keyword rules and the knowledge base: "人工" is this applicant's
    name, and only for someone else the keyword that asks for a person."""
    await load_starter(server)
    intro = await post(server, peer.text("oDialog", "申请公开2020年人防工程竣工验收备案表"))
    assert "第1步" in intro["Content"]
    reply = await post(server, peer.text("oDialog", "人工"))
    assert reply["Content"].startswith("第2步")
    reply = await post(server, peer.text("oOther", "人工"))
    assert "人工服务" in reply["Content"]


async def test_staff_correction_reopens_and_improves_matching(server):
    await load_starter(server)
    # Staff judge that no entry fits this message (say, the office had no siren test that day).
    reply = await post(server, peer.text("oWrong", "今天几点拉警报"))
    number = case_number_in(reply["Content"])
    staff = Actor("user:test", user_id=None, role="staff")
    async with server.runtime.db.session() as s:
        answer = (await s.execute(select(KbAnswer))).scalar_one()
    await knowledge.judge_answer(server.runtime, staff, answer.id, None)
    async with server.runtime.db.session() as s:
        case = (await s.execute(select(Case).where(Case.number == number))).scalar_one()
        assert case.status == "new" and case.answered_at is None  # a person must answer now
    # The same text is no longer answered with that entry.
    again = await post(server, peer.text("oWrong2", "今天几点拉警报"))
    assert SIREN_ANSWER_MARK not in again["Content"]

    # A question that matched nothing, corrected to the right entry, is
    # answered with it next time.
    odd = "那个呜呜呜的长鸣声是干啥的"
    first = await post(server, peer.text("oOdd", odd))
    assert SIREN_ANSWER_MARK not in first["Content"]
    async with server.runtime.db.session() as s:
        siren = await s.execute(select(Case.id).where(Case.number == case_number_in(first["Content"])))
        case_id = siren.scalar_one()
        s.add(KbAnswer(case_id=case_id, entry_id=None, entry_key="(none)", score=0.0, question=odd,
                       at=datetime.now(timezone.utc)))
        await s.flush()
        row = (await s.execute(select(KbAnswer).where(KbAnswer.question == odd))).scalar_one()
        await s.commit()
    await knowledge.judge_answer(server.runtime, staff, row.id, "siren-test-day")
    later = await post(server, peer.text("oOdd2", odd))
    assert SIREN_ANSWER_MARK in later["Content"]


async def test_edits_reach_other_workers_through_the_revision(server):
    """An edit made elsewhere (another worker, the CLI: here, straight in the
    database, without telling this worker) is picked up by the revision check."""
    await load_starter(server)
    entry = {"key": "mask-shop", "questions": ["防毒面具在哪里买"], "topic": "education",
             "answer": "防毒面具可在正规劳保用品商店购买。"}
    await server.runtime.db.write(lambda tx: knowledge.save_entry_in(tx, entry, "test"))
    deadline = asyncio.get_running_loop().time() + 10  # the check runs every 3 s
    while server.runtime.knowledge.current.entries.get("mask-shop") is None:
        assert asyncio.get_running_loop().time() < deadline, "the edit never reached this worker"
        await asyncio.sleep(0.1)
    reply = await post(server, peer.text("oMask", "哪里能买防毒面具"))
    assert "劳保用品" in reply["Content"]


async def test_an_answer_still_holding_blanks_waits_until_edited_or_knowingly_allowed(server):
    rt = server.runtime
    await knowledge.import_document(rt.db, read_document(STARTER), Actor("test"))  # as shipped: 【…】 unfilled
    await rt.knowledge.reload()
    admin = Actor("user:boss", role="admin")

    # 人防车位 (租期一般不超过【3】年): the citizen gets the normal receipt, not the blank.
    reply = (await post(server, peer.text("oBlank1", "人防车位可以卖吗")))["Content"]
    assert "【3】" not in reply and PARKING_MARK not in reply and "自动答复" not in reply
    assert "工作日" in reply and case_number_in(reply)
    assert await count(server, KbAnswer) == 0
    assert await count(server, Case, Case.status == "new") == 1
    # Nor through the menu: the click is kept, nothing is said.
    assert await post(server, peer.event("oBlank1", "CLICK", key="parking-sale")) is None

    # Edited (the blank filled in), the entry answers.
    parking = rt.knowledge.current.entries["parking-sale"]
    data = {**entry_data(parking), "answer": parking.answer.replace("【3】", "3")}
    await knowledge.save_entry(rt, admin, data, key="parking-sale")
    reply = (await post(server, peer.text("oBlank2", "人防车位可以卖吗")))["Content"]
    assert PARKING_MARK in reply and "不超过3年" in reply and "【" not in reply.replace("【自动答复】", "")
    assert PARKING_MARK in (await post(server, peer.event("oBlank2", "CLICK", key="parking-sale")))["Content"]

    # 办公时间 holds 【请填写电话】: held back until an admin allows it knowingly.
    reply = (await post(server, peer.text("oBlank3", "人防办电话是多少")))["Content"]
    assert "【请填写电话】" not in reply and "自动答复" not in reply
    hours = rt.knowledge.current.entries["office-hours"]
    await knowledge.save_entry(rt, admin, {**entry_data(hours), "placeholders_allowed": True}, key="office-hours")
    reply = (await post(server, peer.text("oBlank4", "人防办电话是多少")))["Content"]
    assert "【请填写电话】" in reply and "自动答复" in reply
