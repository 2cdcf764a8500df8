"""The WeChat channel end to end: a protocol-faithful peer posts to the real
server over HTTP; the database is checked the way staff would see it."""

from __future__ import annotations

import asyncio
import time
import xml.etree.ElementTree as ET

import pytest
import pytest_asyncio
from sqlalchemy import func, select

from handlers.common.wechat_protocol import render_text
from storage.models import AuditEntry, Case, Contact, Message
from tests.conftest import WECHAT, make_settings, serve
from tests.wechat_peer import WeChatPeer, case_number_in, sha1_sorted

peer = WeChatPeer(WECHAT["token"], WECHAT["aes_key"], WECHAT["app_id"], WECHAT["account"])


async def post(server, xml: str, mode: str = "safe", **kw):
    query, body = peer.push(xml, mode, **kw)
    resp = await server.post("/wechat", params=query, data=body.encode())
    text = await resp.text()
    return resp.status, (peer.open_reply(text, query) if resp.status == 200 else text)


async def count(server, model, *where) -> int:
    async with server.runtime.db.session() as s:
        return (await s.execute(select(func.count()).select_from(model).where(*where))).scalar_one()


async def test_url_verification(server):
    ts, nonce = "1732500000", "42"
    ok = {"signature": sha1_sorted(WECHAT["token"], ts, nonce), "timestamp": ts, "nonce": nonce, "echostr": "e c h o"}
    resp = await server.get("/wechat", params=ok)
    assert resp.status == 200 and await resp.text() == "e c h o"
    resp = await server.get("/wechat", params={**ok, "signature": "0" * 40})
    assert resp.status == 403


@pytest_asyncio.fixture
async def plain_server(db_url, tmp_path, classifier):
    """The account in plain mode (no EncodingAESKey)."""
    async with serve(make_settings(db_url, tmp_path, wechat_aes_key=None), classifier) as client:
        yield client


@pytest.mark.parametrize("mode", ["safe", "compatible", "plain"])
async def test_question_gets_a_case_number_and_is_stored_first(server, plain_server, mode):
    # Plain mode is for a plain-mode account; the encrypted modes for a safe-mode one.
    server = plain_server if mode == "plain" else server
    status, reply = await post(server, peer.text("oUser1", "请问人防车位可以买卖吗？"), mode)
    assert status == 200
    assert reply["MsgType"] == "text" and reply["ToUserName"] == "oUser1" and reply["FromUserName"] == WECHAT["account"]
    number = case_number_in(reply["Content"])
    assert number and number.startswith("WX")
    assert "咨询" in reply["Content"] and "工作日" in reply["Content"]
    async with server.runtime.db.session() as s:
        case = (await s.execute(select(Case).where(Case.number == number))).scalar_one()
        assert case.channel == "wechat" and case.kind == "consultation" and case.topic == "parking"
        assert case.text == "请问人防车位可以买卖吗？" and case.deadline_at is not None
        msgs = (await s.execute(select(Message).where(Message.case_id == case.id).order_by(Message.id))).scalars().all()
        assert [m.direction for m in msgs] == ["in", "out"]
        assert "人防车位" in msgs[0].raw and msgs[1].text == reply["Content"]


async def test_retry_gets_the_same_reply_and_no_second_case(server):
    xml = peer.text("oRetry", "小区地下室被改成仓库出租了，谁来管管", msg_id=7001)
    first = await post(server, xml)
    again = await asyncio.gather(*(post(server, xml) for _ in range(3)))
    assert all(r[0] == 200 and r[1]["Content"] == first[1]["Content"] for r in again)
    assert await count(server, Case) == 1
    assert await count(server, Message, Message.direction == "in") == 1


async def test_same_msgid_from_another_user_is_another_case(server):
    await post(server, peer.text("oA", "防空警报什么时候试鸣", msg_id=99))
    await post(server, peer.text("oB", "易地建设费怎么交", msg_id=99))
    assert await count(server, Case) == 2


async def test_follow_up_messages_join_the_open_case(server):
    now = int(time.time())
    _, r1 = await post(server, peer.text("oThread", "你好", create_time=now))
    _, r2 = await post(server, peer.text("oThread", "我想投诉小区人防工程漏水，物业一直不修", create_time=now + 60))
    n1, n2 = case_number_in(r1["Content"]), case_number_in(r2["Content"])
    # The greeting opened it; the complaint says what it is about, takes the
    # complaint's deadline from the receipt and is told when it is answered.
    assert n1 == n2 and "15个工作日内" in r2["Content"]
    assert await count(server, Case) == 1
    async with server.runtime.db.session() as s:
        case = (await s.execute(select(Case))).scalar_one()
        assert case.kind == "complaint" and case.deadline_days == 15 and case.deadline_at is not None
        logged = (await s.execute(select(AuditEntry).where(AuditEntry.action == "case.classified"))).scalar_one()
        assert logged.detail["kind"][1] == "complaint" and logged.detail["deadline_days"] == 15
    # Long after the window, the same person starts a new case.
    _, r3 = await post(server, peer.text("oThread", "请问防空警报试鸣是几点", create_time=now + 3 * 3600))
    assert case_number_in(r3["Content"]) != n1
    assert await count(server, Case) == 2


async def test_events(server):
    status, reply = await post(server, peer.event("oFan", "subscribe"))
    assert status == 200 and "感谢关注" in reply["Content"]
    status, reply = await post(server, peer.event("oFan2", "subscribe", key="qrscene_12345"))
    assert status == 200 and "感谢关注" in reply["Content"]
    for event in ("LOCATION", "VIEW", "unsubscribe", "SCAN", "CLICK", "SOME_NEW_EVENT"):
        status, reply = await post(server, peer.event("oFan", event, key="k"))
        assert (status, reply) == (200, None), event
    assert await count(server, Case) == 0
    async with server.runtime.db.session() as s:
        fan = (await s.execute(select(Contact).where(Contact.identity == "oFan"))).scalar_one()
        assert fan.unsubscribed_at is not None


@pytest.mark.parametrize("msg_type,fields,expect", [
    ("image", {"PicUrl": "http://mmbiz/x.jpg", "MediaId": "m1"}, "图片"),
    ("voice", {"MediaId": "m2", "Format": "amr", "Recognition": ""}, "语音"),
    ("video", {"MediaId": "m3", "ThumbMediaId": "t"}, "视频"),
    ("shortvideo", {"MediaId": "m4", "ThumbMediaId": "t"}, "视频"),
    ("location", {"Location_X": "28.68", "Location_Y": "115.89", "Scale": "15", "Label": "南昌市"}, "位置"),
    ("link", {"Title": "通知", "Description": "d", "Url": "http://example.invalid/"}, "链接"),
    ("miniprogrampage", {"Title": "x"}, "暂不支持"),
])
async def test_every_message_type_is_answered_and_kept(server, msg_type, fields, expect):
    status, reply = await post(server, peer.message(f"o{msg_type}", msg_type, fields))
    assert status == 200 and expect in reply["Content"] and case_number_in(reply["Content"])
    assert await count(server, Message, Message.msg_type == (msg_type if expect != "暂不支持" else "unknown")) == 1


async def test_voice_recognition_is_classified(server):
    _, reply = await post(server, peer.message("oVoice", "voice", {"MediaId": "m", "Format": "amr",
                                                                    "Recognition": "我要举报有人把人防车位卖了"}))
    async with server.runtime.db.session() as s:
        case = (await s.execute(select(Case))).scalar_one()
    assert case.kind == "report" and case.number in reply["Content"]


BAD = [
    ("forged signature", lambda q, b: ({**q, "signature": "0" * 40, "msg_signature": q.get("msg_signature")}, b), 403),
    ("forged msg_signature", lambda q, b: ({**q, "msg_signature": "f" * 40}, b), 403),
    ("malformed xml", lambda q, b: (q, "<xml><Encrypt>"), 400),
    ("entity declaration around the envelope",
     lambda q, b: (q, '<!DOCTYPE xml [<!ENTITY e "x">]>' + b.replace("<Encrypt>", "<Encrypt>&e;", 1)), 400),
    ("two Encrypt elements", lambda q, b: (q, b.replace("</xml>", "<Encrypt>AAAA</Encrypt></xml>")), 400),
    ("another root element", lambda q, b: (q, b.replace("<xml>", "<root>").replace("</xml>", "</root>")), 400),
]


@pytest.mark.parametrize("name,mutate,status", BAD, ids=[b[0] for b in BAD])
async def test_bad_pushes_are_refused_and_change_nothing(server, name, mutate, status, caplog):
    query, body = peer.push(peer.text("oBad", "请问人防车位可以买卖吗"), "safe")
    query, body = mutate(query, body)
    resp = await server.post("/wechat", params=query, data=body.encode())
    assert resp.status == status
    assert await count(server, Message) == 0 and await count(server, Case) == 0
    assert WECHAT["token"] not in caplog.text and WECHAT["aes_key"] not in caplog.text


async def test_plain_forged_signature(plain_server):
    query, body = peer.push(peer.text("oBad", "hi"), "plain")
    resp = await plain_server.post("/wechat", params={**query, "signature": "1" * 40}, data=body.encode())
    assert resp.status == 403 and await count(plain_server, Message) == 0


async def test_a_plain_push_is_refused_in_safe_mode(server):
    """The plain signature does not cover the body: in safe mode only
    encrypted pushes are genuine."""
    query, body = peer.push(peer.text("oForger", "伪造的消息"), "plain")
    resp = await server.post("/wechat", params=query, data=body.encode())
    assert resp.status == 400 and await count(server, Message) == 0


async def test_entity_declarations_are_refused(server):
    evil = ('<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            '<xml><ToUserName>gh</ToUserName><FromUserName>o</FromUserName><CreateTime>1</CreateTime>'
            '<MsgType>text</MsgType><Content>&x;</Content><MsgId>1</MsgId></xml>')
    for mode in ("plain", "safe"):
        status, _ = await post(server, evil, mode)
        assert status == 400
    assert await count(server, Message) == 0


async def test_markup_in_a_message_is_just_text(server):
    text = "<!DOCTYPE 不是攻击> <!-- 请问 --> 人防车位可以买卖吗？"
    status, reply = await post(server, peer.text("oMarkup", text), "safe")
    assert status == 200 and "受理编号" in reply["Content"]
    async with server.runtime.db.session() as s:
        stored = (await s.execute(select(Message.text).where(Message.direction == "in"))).scalar_one()
    assert stored == text


async def test_wrong_appid_inside_ciphertext(server):
    status, text = await post(server, peer.text("o", "hi"), "safe", app_id="wx_someone_else")
    assert status == 400 and "appid" in text and await count(server, Message) == 0


async def test_oversized_body(server):
    query, body = peer.push(peer.text("oBig", "字" * 40000), "plain")
    resp = await server.post("/wechat", params=query, data=body.encode())
    assert resp.status == 413 and await count(server, Message) == 0


async def test_a_compressed_body_counts_once_inflated(server):
    import gzip

    query, body = peer.push(peer.text("oZip", "字" * 40000), "plain")  # ~120 KB of XML
    packed = gzip.compress(body.encode())
    assert len(packed) < 65536 < len(body.encode())
    resp = await server.post("/wechat", params=query, data=packed, headers={"Content-Encoding": "gzip"})
    assert resp.status == 413 and await count(server, Message) == 0


def test_reply_text_cannot_inject_xml():
    evil = "编号]]><MsgType><![CDATA[news]]></MsgType><x>"
    root = ET.fromstring(render_text("oUser", "gh", evil))
    assert root.findtext("Content") == evil and root.findtext("MsgType") == "text"
    assert len(root.findall("MsgType")) == 1


def test_reply_text_is_kept_under_2000_bytes():
    root = ET.fromstring(render_text("oUser", "gh", "答" * 3000))
    content = root.findtext("Content")
    assert len(content.encode("utf-8")) < 2000 and content.endswith("…")


async def test_acknowledged_messages_survive_a_restart(settings, classifier):
    from aiohttp.test_utils import TestClient, TestServer

    from bot.app import build_runtime, create_app

    xml = peer.text("oRestart", "请问易地建设费的收费标准是多少", msg_id=123456)
    replies = []
    for _ in range(2):  # the second server is a fresh process's worth of state on the same database
        runtime = build_runtime(settings, classifier=classifier)
        client = TestClient(TestServer(create_app(settings, runtime), host="127.0.0.1"))
        await client.start_server()
        try:
            client.runtime = runtime
            replies.append(await post(client, xml))
            assert await count(client, Case) == 1
        finally:
            await client.close()
    # The same answer again (CreateTime is the time of each reply, not part of it).
    assert replies[0][0] == replies[1][0] == 200
    assert replies[0][1]["Content"] == replies[1][1]["Content"]


async def test_a_push_arriving_in_pieces_is_read_whole(server):
    """A body split across packets (chunked here) is read to its end."""
    query, body = peer.push(peer.text("oSlow", "请问人防工程平战转换需要哪些手续？" * 20), "safe")
    data = body.encode()

    async def pieces():
        for i in range(0, len(data), 37):
            yield data[i:i + 37]
            await asyncio.sleep(0.005)

    resp = await server.post("/wechat", params=query, data=pieces())
    assert resp.status == 200
    reply = peer.open_reply(await resp.text(), query)
    assert case_number_in(reply["Content"])


async def test_an_oversized_body_without_a_length_is_refused(server):
    query, body = peer.push(peer.text("oBig2", "字" * 40000), "plain")

    async def pieces():
        data = body.encode()
        for i in range(0, len(data), 8192):
            yield data[i:i + 8192]

    resp = await server.post("/wechat", params=query, data=pieces())
    assert resp.status == 413 and await count(server, Message) == 0
