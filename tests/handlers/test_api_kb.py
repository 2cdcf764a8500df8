"""The knowledge-base API over real HTTP, SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from storage.models import Case, KbEntry, KbFeedback
from tests.conftest import WECHAT
from tests.wechat_peer import WeChatPeer, case_number_in

peer = WeChatPeer(WECHAT["token"], WECHAT["aes_key"], WECHAT["app_id"], WECHAT["account"])

PARKING = {"key": "parking-sale", "topic": "parking", "questions": ["人防车位可以买卖吗", "人防车位能卖吗"],
           "answer": "人防车位不能买卖，只能出租。详见 https://rfb.example.gov.cn/cw", "needs_person": False}


@pytest.fixture
async def admin_token(server):
    from bot.domain.security import hash_password, new_token, token_hash
    from storage.models import ApiToken, User

    async with server.runtime.db.session() as session:
        user = User(username="admin1", role="admin", password_hash=hash_password("correct horse"))
        session.add(user)
        await session.flush()
        token = new_token()
        session.add(ApiToken(user_id=user.id, name="kb-admin", token_hash=token_hash(token)))
        await session.commit()
    return token


def auth(token):
    return {"Authorization": f"Bearer {token}"}


async def entries_count(server) -> int:
    async with server.runtime.db.session() as s:
        return (await s.execute(select(func.count()).select_from(KbEntry))).scalar_one()


async def test_needs_a_token_and_admin_to_change(server, api_token, admin_token):
    resp = await server.get("/api/v1/kb/entries")
    assert resp.status == 401
    resp = await server.post("/api/v1/kb/entries", json=PARKING, headers=auth(api_token))
    assert resp.status == 403 and (await resp.json())["error"]["code"] == "forbidden"
    assert await entries_count(server) == 0
    resp = await server.get("/api/v1/kb/entries", headers=auth(api_token))
    assert resp.status == 200 and (await resp.json())["items"] == []


async def test_create_edit_and_withdraw_an_entry_live(server, admin_token):
    resp = await server.post("/api/v1/kb/entries", json=PARKING, headers=auth(admin_token))
    assert resp.status == 201
    body = await resp.json()
    assert body["key"] == "parking-sale" and body["questions"] == PARKING["questions"]

    # Live at once: the account answers with it.
    query, xml = peer.push(peer.text("oApi", "人防车位能不能卖啊"), "safe")
    reply = peer.open_reply(await (await server.post("/wechat", params=query, data=xml.encode())).text(), query)
    assert "只能出租" in reply["Content"] and "https://rfb.example.gov.cn/cw" in reply["Content"]

    resp = await server.post("/api/v1/kb/entries", json=PARKING, headers=auth(admin_token))
    assert resp.status == 409
    resp = await server.put("/api/v1/kb/entries/parking-sale", json={**PARKING, "answer": "新的答复。"},
                            headers=auth(admin_token))
    assert resp.status == 200 and (await resp.json())["answer"] == "新的答复。"
    resp = await server.post("/api/v1/kb/match", json={"text": "人防车位能卖吗"}, headers=auth(admin_token))
    body = await resp.json()
    assert body["answer"]["entry"] == "parking-sale" and body["answer"]["text"] == "新的答复。"
    assert body["candidates"][0]["wording"] == "人防车位能卖吗"

    resp = await server.delete("/api/v1/kb/entries/parking-sale", headers=auth(admin_token))
    assert resp.status == 200 and (await resp.json())["active"] is False
    resp = await server.post("/api/v1/kb/match", json={"text": "人防车位能卖吗"}, headers=auth(admin_token))
    assert (await resp.json())["answer"] is None
    resp = await server.delete("/api/v1/kb/entries/nope", headers=auth(admin_token))
    assert resp.status == 404
    resp = await server.put("/api/v1/kb/entries/nope", json={**PARKING, "key": "nope"}, headers=auth(admin_token))
    assert resp.status == 404 and (await resp.json())["error"]["field"] == "key"


@pytest.mark.parametrize("change,field", [
    ({"answer": ""}, "answer"),
    ({"questions": []}, "questions"),
    ({"valid_from": "2026-09-18", "valid_to": "2026-09-01"}, "valid_to"),
    ({"topic": "nonsense"}, "topic"),
])
async def test_bad_entry_is_refused_and_changes_nothing(server, admin_token, change, field):
    resp = await server.post("/api/v1/kb/entries", json={**PARKING, **change}, headers=auth(admin_token))
    assert resp.status == 400
    err = (await resp.json())["error"]
    assert err["field"] == field and err["message"]
    assert await entries_count(server) == 0


async def test_overlapping_validity_is_refused_with_the_reason(server, admin_token):
    siren = {"key": "siren-2026", "topic": "siren", "questions": ["今天几点拉警报"], "answer": "10点。",
             "valid_from": "2026-09-17", "valid_to": "2026-09-18"}
    assert (await server.post("/api/v1/kb/entries", json=siren, headers=auth(admin_token))).status == 201
    resp = await server.post("/api/v1/kb/entries", json={**siren, "key": "siren-again", "valid_from": "2026-09-18",
                                                         "valid_to": "2026-09-19"}, headers=auth(admin_token))
    assert resp.status == 400
    msg = (await resp.json())["error"]["message"]
    assert "今天几点拉警报" in msg and "siren-2026" in msg and "重叠" in msg
    assert await entries_count(server) == 1


async def test_rules_and_welcome(server, admin_token, api_token):
    bad = {"items": [{"match": "regex", "pattern": "([", "reply": "x"}]}
    resp = await server.put("/api/v1/kb/rules", json=bad, headers=auth(admin_token))
    assert resp.status == 400 and (await resp.json())["error"]["field"] == "items[0].pattern"
    good = {"items": [{"match": "contains", "pattern": "人工", "reply": "人工服务请拨打 12345。"}],
            "welcome": "欢迎关注省人防办！"}
    resp = await server.put("/api/v1/kb/rules", json=good, headers=auth(admin_token))
    assert resp.status == 200
    resp = await server.get("/api/v1/kb/rules", headers=auth(api_token))
    body = await resp.json()
    assert body["items"][0]["pattern"] == "人工" and body["welcome"] == "欢迎关注省人防办！"
    query, xml = peer.push(peer.event("oWelcome", "subscribe"), "safe")
    reply = peer.open_reply(await (await server.post("/wechat", params=query, data=xml.encode())).text(), query)
    assert reply["Content"] == "欢迎关注省人防办！"


async def test_staff_see_and_correct_automatic_answers(server, admin_token, api_token):
    await server.post("/api/v1/kb/entries", json=PARKING, headers=auth(admin_token))
    query, xml = peer.push(peer.text("oCorr", "人防车位能卖吗？我电话13812345678"), "safe")
    reply = peer.open_reply(await (await server.post("/wechat", params=query, data=xml.encode())).text(), query)
    number = case_number_in(reply["Content"])

    resp = await server.get("/api/v1/kb/answers", headers=auth(api_token))
    items = (await resp.json())["items"]
    assert len(items) == 1 and items[0]["case_number"] == number and items[0]["entry"] == "parking-sale"
    assert "138****5678" in items[0]["question"] and "13812345678" not in items[0]["question"]
    assert items[0]["case_status"] == "answered"

    answer_id = items[0]["id"]
    resp = await server.post(f"/api/v1/kb/answers/{answer_id}/judgement", json={"entry": "nope"},
                             headers=auth(api_token))
    assert resp.status == 400 and (await resp.json())["error"]["field"] == "entry"
    resp = await server.post(f"/api/v1/kb/answers/{answer_id}/judgement", json={}, headers=auth(api_token))
    assert resp.status == 400
    async with server.runtime.db.session() as s:
        assert (await s.execute(select(func.count()).select_from(KbFeedback))).scalar_one() == 0

    resp = await server.post(f"/api/v1/kb/answers/{answer_id}/judgement", json={"entry": None},
                             headers=auth(api_token))
    assert resp.status == 200 and (await resp.json())["reviewed"] == "wrong"
    async with server.runtime.db.session() as s:
        case = (await s.execute(select(Case).where(Case.number == number))).scalar_one()
        assert case.status == "new"
    resp = await server.get("/api/v1/kb/answers?unreviewed=1", headers=auth(api_token))
    assert (await resp.json())["items"] == []
    resp = await server.post("/api/v1/kb/answers/999999/judgement", json={"entry": None}, headers=auth(api_token))
    assert resp.status == 404
