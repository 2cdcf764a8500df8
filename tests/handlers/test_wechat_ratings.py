"""回访 on WeChat: the final answer asks for a rating; the citizen's 1–5 or
满意/不满意 is recorded on that case; 2 or less re-opens it for 重办; after
the rating, and for people with no answer awaiting one, digits are ordinary
messages. A follow-up within 7 days of the answer joins the answered case."""

from __future__ import annotations

import time

from sqlalchemy import select

from bot.domain.actors import Actor
from bot.domain.inbox import CaseFilter
from bot.services import cases
from storage.models import AuditEntry, Case, CaseRating, Message
from tests.handlers.test_wechat import count, peer, post
from tests.wechat_peer import case_number_in


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


async def answer(server, token, case_id, text="已安排维修，问题已解决。"):
    resp = await server.post(f"/api/v1/cases/{case_id}/replies", json={"text": text, "type": "final"},
                             headers=auth(token))
    assert resp.status == 201, await resp.text()


async def the_case(server) -> Case:
    async with server.runtime.db.session() as s:
        return (await s.execute(select(Case))).scalar_one()


async def test_rate_reopen_answer_again_and_rate_well(server, api_token):
    now = int(time.time())
    _, receipt = await post(server, peer.text("oRater", "小区人防工程漏水，物业一直不修，我要投诉", create_time=now))
    number = case_number_in(receipt["Content"])
    case = await the_case(server)
    await answer(server, api_token, case.id)
    async with server.runtime.db.session() as s:
        sent = (await s.execute(select(Message.text).where(Message.direction == "out", Message.author_id.is_not(None)))).scalar_one()
    assert sent == "已安排维修，问题已解决。"  # the thread keeps the answer; the rating question rides on the message sent

    rating_push = peer.text("oRater", "2", create_time=now + 60)
    _, reply = await post(server, rating_push)
    assert number in reply["Content"] and "重新交办" in reply["Content"]
    case = await the_case(server)
    assert (case.status, case.reopened, case.rating, case.answered_at) == ("in_progress", 1, 2, None)
    # A retry of the same push is not a second rating.
    _, again = await post(server, rating_push)
    assert again["Content"] == reply["Content"] and await count(server, CaseRating) == 1

    await answer(server, api_token, case.id, "已更换防水层，复查无渗漏。")
    _, thanks = await post(server, peer.text("oRater", "满意", create_time=now + 120))
    assert "感谢您的评价" in thanks["Content"] and number in thanks["Content"]
    case = await the_case(server)
    assert (case.status, case.reopened, case.rating) == ("answered", 1, 4)
    async with server.runtime.db.session() as s:
        ratings = (await s.execute(select(CaseRating.score, CaseRating.source, CaseRating.round)
                                   .order_by(CaseRating.id))).all()
    assert ratings == [(2, "citizen", 0), (4, "citizen", 1)]

    # Rated: a further "5" is an ordinary message, a follow-up of the answered case.
    _, follow = await post(server, peer.text("oRater", "5", create_time=now + 180))
    assert await count(server, CaseRating) == 2 and await count(server, Case) == 1
    assert "感谢您的评价" not in follow["Content"]
    async with server.runtime.db.session() as s:
        thread = (await s.execute(select(Message.text).where(Message.direction == "in").order_by(Message.id))).scalars().all()
    assert thread[-1] == "5"
    # Staff see it: the case is in the 群众追问 view until someone replies.
    listed = await cases.inbox(server.runtime, Actor("test"), view="follow_up", selection=CaseFilter(), search=None,
                               sort="newest", page=0, before_id=None)
    assert [r.case.number for r in listed.rows] == [number] and "群众追问" in listed.rows[0].marks
    assert listed.counts["follow_up"] == 1
    await answer(server, api_token, case.id, "感谢您的认可。")
    listed = await cases.inbox(server.runtime, Actor("test"), view="follow_up", selection=CaseFilter(), search=None,
                               sort="newest", page=0, before_id=None)
    assert listed.rows == [] and listed.counts["follow_up"] == 0


async def test_digits_from_someone_with_no_answer_awaiting_a_rating_make_a_case(server):
    _, reply = await post(server, peer.text("oStranger", "1", create_time=int(time.time())))
    assert case_number_in(reply["Content"]) and await count(server, CaseRating) == 0


async def test_a_third_low_rating_goes_to_a_leader_not_back_to_staff(server, api_token):
    now = int(time.time())
    await post(server, peer.text("oAngry", "人防车位被占用，要求处理", create_time=now))
    case = await the_case(server)
    for round_ in range(2):
        await answer(server, api_token, case.id)
        await post(server, peer.text("oAngry", "不满意", create_time=now + 60 * (round_ + 1)))
    await answer(server, api_token, case.id)
    _, reply = await post(server, peer.text("oAngry", "非常不满意", create_time=now + 600))
    assert "领导督办" in reply["Content"]
    case = await the_case(server)
    assert (case.status, case.reopened, case.urged, case.rating) == ("answered", 2, "督办", 1)
    async with server.runtime.db.session() as s:
        assert (await s.execute(select(AuditEntry).where(AuditEntry.action == "case.supervised"))).scalar_one()
