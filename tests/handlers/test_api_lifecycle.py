"""A case's life over the JSON API: reply types, extensions (with and without
an admin's approval), returns, ratings and re-handling, urging; and every
bad request refused with a 4xx naming the field or the current status, with
nothing changed."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from storage.models import AuditEntry, Case, CaseExtension, CaseRating, CaseUrge, Message
from tests.conftest import enter_next_year, make_settings, make_token, serve

# Deadlines of cases received in December reach next year.
pytestmark = pytest.mark.usefixtures("next_year_entered")


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def today_at(server) -> str:
    # A minute ago but still today: a fixed hour such as 09:00 is in the future
    # before 09:00 office time, and the API rightly refuses a future received_at.
    now = datetime.now(server.runtime.settings.tz).replace(microsecond=0)
    return max(now - timedelta(minutes=1), now.replace(hour=0, minute=0, second=0)).isoformat()


async def new_case(server, token, text="小区人防工程漏水，物业一直不修，我要投诉", received_at=None) -> dict:
    body = {"channel": "portal", "received_at": received_at or today_at(server), "text": text,
            "contact": {"name": "王女士", "phone": "13800001111"}}
    resp = await server.post("/api/v1/cases", json=body, headers=auth(token))
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def get_case(server, token, case_id) -> dict:
    return await (await server.get(f"/api/v1/cases/{case_id}", headers=auth(token))).json()


async def snapshot(server, case_id) -> tuple:
    """Everything a refused request must leave as it was."""
    async with server.runtime.db.session() as s:
        case = await s.get(Case, case_id)
        counts = [(await s.execute(select(func.count()).select_from(model))).scalar_one()
                  for model in (Message, CaseExtension, CaseRating, CaseUrge, AuditEntry)]
        return (case.status, case.version, case.deadline_at, case.answered_at, case.extended_days, case.reopened,
                case.rating, case.urged, *counts)


async def post(server, token, case_id, what, body):
    return await server.post(f"/api/v1/cases/{case_id}/{what}", json=body, headers=auth(token))


async def test_interim_then_request_info_then_final(server, api_token):
    case = await new_case(server, api_token)
    resp = await post(server, api_token, case["id"], "replies", {"text": "已转物业核实，请稍候。", "type": "interim",
                                                                "delivered_by": "网站回复"})
    assert resp.status == 201 and (await resp.json())["type"] == "interim"
    got = await get_case(server, api_token, case["id"])
    assert got["status"] == "new" and got["answered_at"] is None
    resp = await post(server, api_token, case["id"], "replies", {"text": "请补充漏水位置的照片。", "type": "request_info",
                                                                "delivered_by": "网站回复"})
    got = await get_case(server, api_token, case["id"])
    assert resp.status == 201 and got["status"] == "waiting" and got["answered_at"] is None
    resp = await post(server, api_token, case["id"], "replies", {"text": "已维修完毕。", "delivered_by": "网站回复"})
    got = await get_case(server, api_token, case["id"])
    assert resp.status == 201 and got["status"] == "answered" and got["answered_at"] is not None  # final: the default


async def test_extension_moves_the_deadline_and_is_logged(server, api_token):
    case = await new_case(server, api_token)
    resp = await post(server, api_token, case["id"], "extension", {"working_days": 5, "reason": "需现场勘查"})
    body = await resp.json()
    assert resp.status == 200 and body["extended_days"] == 5 and body["extension"]["status"] == "approved"
    cal = await server.runtime.calendar.refresh()
    old_day = datetime.fromisoformat(case["deadline"]).date()
    assert datetime.fromisoformat(body["deadline"]).date() == cal.add_working_days(old_day, 5)
    async with server.runtime.db.session() as s:
        logged = (await s.execute(select(AuditEntry).where(AuditEntry.action == "case.extended"))).scalar_one()
    assert logged.detail["reason"] == "需现场勘查" and logged.detail["working_days"] == 5


async def test_an_extension_waits_for_an_admin_when_approval_is_required(db_url, tmp_path, classifier):
    settings = make_settings(db_url, tmp_path, extension_approval=True)
    async with serve(settings, classifier) as server:
        await enter_next_year(server.runtime)
        staff = await make_token(server.runtime, "zhangsan")
        admin = await make_token(server.runtime, "boss", role="admin")
        case = await new_case(server, staff)
        resp = await post(server, staff, case["id"], "extension", {"working_days": 3, "reason": "需协调住建部门"})
        body = await resp.json()
        assert resp.status == 200 and body["extension"]["status"] == "pending"
        assert body["deadline"] == case["deadline"] and body["extended_days"] == 0  # not yet
        again = await post(server, staff, case["id"], "extension", {"working_days": 3, "reason": "再次申请"})
        assert again.status == 409 and (await again.json())["error"]["code"] == "pending"
        refused = await post(server, staff, case["id"], "extension/decision", {"approved": True})
        assert refused.status == 403
        resp = await post(server, admin, case["id"], "extension/decision", {"approved": True})
        body = await resp.json()
        assert resp.status == 200 and body["extended_days"] == 3 and body["deadline"] != case["deadline"]
        assert body["extension"]["approved_by"] == "boss"
        none_left = await post(server, admin, case["id"], "extension/decision", {"approved": False})
        assert none_left.status == 409


async def test_return_needs_reason_and_basis_and_ends_the_case(server, api_token):
    case = await new_case(server, api_token, text="楼下烧烤店油烟扰民")
    resp = await post(server, api_token, case["id"], "return",
                      {"reason": "餐饮油烟不属本机关职责", "basis": "《大气污染防治法》第八十一条"})
    body = await resp.json()
    assert resp.status == 200 and body["status"] == "returned"
    assert body["returned"]["basis"] == "《大气污染防治法》第八十一条"
    refused = await post(server, api_token, case["id"], "replies", {"text": "答复", "delivered_by": "电话"})
    assert refused.status in (400, 409)


async def test_a_low_rating_reopens_for_rehandling_and_a_good_one_does_not(server, api_token):
    case = await new_case(server, api_token)
    await post(server, api_token, case["id"], "replies", {"text": "已维修完毕。", "delivered_by": "网站回复"})
    resp = await post(server, api_token, case["id"], "rating", {"score": 2, "source": "staff", "comment": "还在漏"})
    body = await resp.json()
    assert resp.status == 200 and body["rating_result"]["reopened"]
    assert (body["status"], body["reopened"], body["answered_at"], body["rating"]) == ("in_progress", 1, None, 2)
    assert datetime.fromisoformat(body["deadline"]) > datetime.now(server.runtime.settings.tz)
    await post(server, api_token, case["id"], "replies", {"text": "已更换防水层。", "delivered_by": "网站回复"})
    resp = await post(server, api_token, case["id"], "rating", {"score": 5, "source": "staff"})
    body = await resp.json()
    assert (body["status"], body["reopened"], body["rating"]) == ("answered", 1, 5)
    # The counts the case keeps for the statistics are the ratings' own.
    async with server.runtime.db.session() as s:
        kept = await s.get(Case, case["id"])
        scores = (await s.execute(select(CaseRating.score).where(CaseRating.case_id == case["id"]))).scalars().all()
    assert (kept.ratings_given, kept.ratings_satisfied) == (len(scores), sum(x >= 3 for x in scores)) == (2, 1)
    cal = await server.runtime.calendar.refresh()
    received = datetime.fromisoformat(case["received_at"]).date()
    answered = kept.answered_at.astimezone(server.runtime.settings.tz).date()
    assert kept.answer_working_days == cal.working_days_between(received, answered)


async def test_urging_marks_the_case_and_supervision_outranks_it(server, api_token):
    case = await new_case(server, api_token)
    assert (await (await post(server, api_token, case["id"], "urge", {"level": "督办", "note": "领导批示"})).json())["urged"] == "督办"
    assert (await (await post(server, api_token, case["id"], "urge", {"level": "催办"})).json())["urged"] == "督办"


@pytest.mark.parametrize("what,body,status,field", [
    ("replies", {"text": "答复", "type": "answer"}, 400, "type"),
    ("extension", {"working_days": 5}, 400, "reason"),
    ("extension", {"working_days": 0, "reason": "勘查"}, 400, "working_days"),
    ("extension", {"working_days": "5", "reason": "勘查"}, 400, "working_days"),
    ("extension", {"working_days": 999, "reason": "勘查"}, 400, "working_days"),
    ("return", {"reason": "不属本部门"}, 400, "basis"),
    ("return", {"basis": "条例"}, 400, "reason"),
    ("rating", {"score": 6, "source": "staff"}, 400, "score"),
    ("rating", {"score": 0, "source": "staff"}, 400, "score"),
    ("rating", {"score": 4, "source": "neighbour"}, 400, "source"),
    ("rating", {"score": 4, "source": "staff"}, 409, "status"),  # not yet answered
    ("urge", {"level": "加急"}, 400, "level"),
])
async def test_bad_requests_name_the_field_and_change_nothing(server, api_token, what, body, status, field):
    case = await new_case(server, api_token)
    before = await snapshot(server, case["id"])
    resp = await post(server, api_token, case["id"], what, body)
    error = (await resp.json())["error"]
    assert resp.status == status and error["field"] == field and error["message"]
    assert await snapshot(server, case["id"]) == before


async def test_an_extension_after_the_deadline_is_refused(server, api_token):
    past = (datetime.now(server.runtime.settings.tz) - timedelta(days=60)).replace(hour=9).isoformat()
    case = await new_case(server, api_token, received_at=past)
    before = await snapshot(server, case["id"])
    resp = await post(server, api_token, case["id"], "extension", {"working_days": 5, "reason": "需现场勘查"})
    assert resp.status == 409 and "期限已过" in (await resp.json())["error"]["message"]
    assert await snapshot(server, case["id"]) == before


async def test_an_illegal_status_change_is_409_with_the_current_status(server, api_token):
    case = await new_case(server, api_token)
    await post(server, api_token, case["id"], "replies", {"text": "已答复。", "delivered_by": "网站回复"})
    before = await snapshot(server, case["id"])
    resp = await server.patch(f"/api/v1/cases/{case['id']}", json={"status": "in_progress"}, headers=auth(api_token))
    error = (await resp.json())["error"]
    assert resp.status == 409 and error["field"] == "status" and "已答复" in error["message"]
    assert await snapshot(server, case["id"]) == before
