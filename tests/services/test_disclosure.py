"""Guards on a disclosure request's legal file: a decision or a receipt can't
be dated in the future, a registered request can't be merged away before it
is answered, and the request page never shows personal numbers from the
letter in full."""

from __future__ import annotations

import pytest

from bot.domain.actors import Actor
from bot.domain.casework import CaseError
from bot.services import cases
from storage.models import Case
from tests.handlers.test_api_disclosure import act, put, register, snapshot  # noqa: F401


async def test_a_decision_dated_in_the_future_is_refused(server, api_token):
    case, _ = await register(server, api_token)
    before = await snapshot(server)
    resp = await put(server, api_token, case["id"], outcome="r1", decided_at="2099-01-05")
    assert resp.status == 400 and (await resp.json())["error"]["field"] == "decided_at"
    assert await snapshot(server) == before


async def test_a_receipt_date_in_the_future_is_refused(server, api_token):
    from datetime import datetime, timedelta

    case, _ = await register(server, api_token)
    before = await snapshot(server)
    tomorrow = (datetime.now(server.runtime.settings.tz) + timedelta(days=1)).date().isoformat()
    resp = await put(server, api_token, case["id"], receipt_date=tomorrow)
    error = (await resp.json())["error"]
    assert resp.status == 400 and error["field"] == "receipt_date" and "晚于今天" in error["message"]
    assert await snapshot(server) == before
    # Nor when the request is first registered.
    other = await (await server.post("/api/v1/cases", headers={"Authorization": f"Bearer {api_token}"}, json={
        "channel": "letter", "received_at": "2024-03-01 10:00", "text": "申请公开2023年人防工程审批文件"})).json()
    before = await snapshot(server)
    resp = await put(server, api_token, other["id"], applicant_type="natural_person", receipt_date=tomorrow)
    assert resp.status == 400 and (await resp.json())["error"]["field"] == "receipt_date"
    assert await snapshot(server) == before


async def test_an_open_request_cannot_be_merged_into_another_case(server, api_token):
    first, _ = await register(server, api_token)
    second, _ = await register(server, api_token)
    staff = Actor("test")
    with pytest.raises(CaseError, match="重复申请"):
        await cases.merge(server.runtime, staff, second["id"], first["number"])
    # Answered as a repeated application, it can go.
    assert (await put(server, api_token, second["id"], outcome="r5_2", decided_at="2024-03-05")).status == 200
    await cases.merge(server.runtime, staff, second["id"], first["number"])
    async with server.runtime.db.session() as session:
        assert (await session.get(Case, second["id"])).merged_into_id == first["id"]
