"""12345 work orders pushed to POST /hotline/orders over real HTTP, on SQLite
and PostgreSQL: signatures, per-order validation, deadlines, duplicates
and concurrent deliveries of the same order."""

from __future__ import annotations

import asyncio
import json
import time

import pytest_asyncio
from sqlalchemy import func, select

from storage.models import Case, Contact, Message, OutboxItem
from tests.conftest import make_settings
from tests.hotline_platform import serve_app, signed

SECRET = "hotline-shared-secret-for-tests"

ORDER = {
    "order_id": "12345-20200315-000123",
    "received_at": "2020-03-15T09:21:00+08:00",
    "request_type": "咨询",
    "title": "咨询人防车位产权问题",
    "content": "来电人反映：小区地下人防车位能否买卖？产权归谁？",
    "caller": {"name": "张先生", "phone": "13800001234"},
    "deadline": "2020-03-20T18:00:00+08:00",
}


@pytest_asyncio.fixture
async def hotline(db_url, tmp_path, classifier):
    settings = make_settings(db_url, tmp_path, hotline_secret=SECRET,
                             channel_deadline_days={"hotline": {"consultation": 2}})
    client = await serve_app(settings, classifier)
    try:
        yield client
    finally:
        await client.close()


async def push(client, payload, *, secret=SECRET, timestamp=None, raw=None):
    body, headers = signed(secret, payload, timestamp=timestamp, raw=raw)
    return await client.post("/hotline/orders", data=body, headers=headers)


async def case_count(client) -> int:
    async with client.runtime.db.session() as session:
        return (await session.execute(select(func.count()).select_from(Case))).scalar_one()


async def the_case(client, order_id: str) -> tuple[Case, Contact | None]:
    async with client.runtime.db.session() as session:
        case = (await session.execute(select(Case).where(Case.external_id == order_id))).scalar_one()
        contact = await session.get(Contact, case.contact_id) if case.contact_id else None
        return case, contact


async def test_an_order_becomes_one_case_with_the_platforms_deadline(hotline):
    resp = await push(hotline, ORDER)
    assert resp.status == 200
    assert await resp.json() == {"accepted": [ORDER["order_id"]], "duplicates": [], "rejected": []}
    case, contact = await the_case(hotline, ORDER["order_id"])
    tz = hotline.runtime.settings.tz
    assert case.channel == "hotline" and case.kind == "consultation" and case.topic == "parking"
    assert case.number.startswith("RX20200315-")
    assert case.title == ORDER["title"] and case.text == ORDER["content"]
    assert case.received_at.astimezone(tz).isoformat() == "2020-03-15T09:21:00+08:00"
    assert case.deadline_at.astimezone(tz).isoformat() == "2020-03-20T18:00:00+08:00"
    assert contact.name == "张先生" and contact.phone == "13800001234"
    async with hotline.runtime.db.session() as session:
        raw = (await session.execute(select(Message.raw).where(Message.case_id == case.id))).scalar_one()
    assert json.loads(raw)["order_id"] == ORDER["order_id"]  # the order as received, kept


async def test_without_a_callback_address_the_signing_for_waits_untried(hotline):
    # No INTAKE_HOTLINE_CALLBACK_URL: the order is signed for, and the 签收
    # message waits for the operator to configure the platform's address
    # instead of failing over and over.
    assert (await push(hotline, ORDER)).status == 200
    case, _ = await the_case(hotline, ORDER["order_id"])
    assert case.accepted_at is not None
    await asyncio.sleep(1.5)  # more than the outbox worker's poll interval; it was woken by the push
    async with hotline.runtime.db.session() as session:
        queued = (await session.execute(select(OutboxItem).where(OutboxItem.case_id == case.id))).scalars().all()
    assert [(o.payload["type"], o.status, o.attempts, o.last_error) for o in queued] == [("accepted", "pending", 0, None)]


async def test_without_a_deadline_the_configured_working_days_apply(hotline):
    # Friday 2020-09-25; this office gives 12345 consultations 2 working days.
    # Sunday 09-27 is a make-up working day (National Day holiday), so: 09-27, 09-28.
    orders = [
        {**ORDER, "order_id": "A-1", "received_at": "2020-09-25T10:00:00+08:00", "deadline": None},
        {**ORDER, "order_id": "A-2", "received_at": "2020-09-25 10:00", "request_type": "投诉",
         "content": "投诉某小区物业把人防工程出租做仓库", "deadline": None},
    ]
    resp = await push(hotline, {"orders": orders})
    assert (await resp.json())["accepted"] == ["A-1", "A-2"]
    tz = hotline.runtime.settings.tz
    consult, _ = await the_case(hotline, "A-1")
    assert consult.deadline_at.astimezone(tz).isoformat() == "2020-09-28T23:59:59+08:00"
    assert consult.deadline_days == 2
    complaint, _ = await the_case(hotline, "A-2")
    assert complaint.kind == "complaint" and complaint.deadline_days == 15
    # 15 working days after 09-25: 09-27..09-30 (4), the 10-01..10-08 holiday,
    # 10-09 and the make-up Saturday 10-10 (6), then 10-12..10-22 (15).
    assert complaint.deadline_at.astimezone(tz).date().isoformat() == "2020-10-22"


async def test_bad_orders_are_rejected_by_id_and_the_rest_accepted(hotline):
    good = {**ORDER, "order_id": "B-good"}
    no_type = {"order_id": "B-notype", "received_at": "2020-03-16 08:00", "content": "我要举报某工地违规拆除人防设施"}
    batch = {"orders": [
        good,
        {**ORDER, "order_id": "B-nocontent", "content": "  "},
        {**ORDER, "order_id": "B-type", "request_type": "催办"},
        {k: v for k, v in ORDER.items() if k != "order_id"},
        {**ORDER, "order_id": "B-time", "received_at": "昨天上午"},
        {**ORDER, "order_id": "B-nortime", "received_at": None},
        no_type,
        "not an object",
    ]}
    resp = await push(hotline, batch)
    assert resp.status == 200
    body = await resp.json()
    assert body["accepted"] == ["B-good", "B-notype"] and body["duplicates"] == []
    errors = {r["order_id"]: r for r in body["rejected"]}
    assert set(errors) == {"B-nocontent", "B-type", None, "B-time", "B-nortime"}
    assert len(body["rejected"]) == 6  # the nameless order and the non-object both have no id
    assert errors["B-nocontent"]["field"] == "content"
    assert "诉求类型" in errors["B-type"]["error"] and "催办" in errors["B-type"]["error"]
    assert errors["B-time"]["field"] == "received_at" and errors["B-nortime"]["field"] == "received_at"
    assert await case_count(hotline) == 2
    # Without a 诉求类型 the classifier decides the kind.
    case, contact = await the_case(hotline, "B-notype")
    assert case.kind == "report" and contact is not None


async def test_a_repeated_order_is_a_duplicate_never_a_second_case(hotline):
    first = await (await push(hotline, ORDER)).json()
    again = await (await push(hotline, {"orders": [ORDER, {**ORDER, "order_id": "C-2"}, {**ORDER, "order_id": "C-2"}]})).json()
    assert first["accepted"] == [ORDER["order_id"]]
    assert again == {"accepted": ["C-2"], "duplicates": [ORDER["order_id"], "C-2"], "rejected": []}
    assert await case_count(hotline) == 2


async def test_forged_stale_or_unsigned_pushes_get_401_and_store_nothing(hotline):
    body, headers = signed(SECRET, ORDER)
    tampered = body.replace("13800001234".encode(), "13900001234".encode())
    attempts = [
        await push(hotline, ORDER, secret="not-the-secret"),
        await push(hotline, ORDER, timestamp=int(time.time()) - 301),
        await push(hotline, ORDER, timestamp=int(time.time()) + 301),
        await hotline.post("/hotline/orders", data=tampered, headers=headers),
        await hotline.post("/hotline/orders", data=body, headers={"Content-Type": "application/json"}),
        await hotline.post("/hotline/orders", data=body, headers={**headers, "X-Intake-Timestamp": "soon"}),
        await hotline.post("/hotline/orders", data=body, headers={**headers, "X-Intake-Signature": "é" * 64}),
    ]
    for resp in attempts:
        assert resp.status == 401
        assert (await resp.json())["error"]["code"] == "unauthorized"
    assert await case_count(hotline) == 0
    # A timestamp inside the window is fine.
    assert (await push(hotline, ORDER, timestamp=int(time.time()) - 250)).status == 200


async def test_invalid_json_is_a_400_json_error(hotline):
    lone_surrogate = b'{"order_id": "A1", "content": "\\ud800 \xe5\x92\xa8\xe8\xaf\xa2"}'  # valid JSON, not Unicode
    for raw in (b"{not json", "工单".encode("gbk"), b"[1, 2]", b'{"orders": "x"}', b"[" * 100000, lone_surrogate):
        resp = await push(hotline, None, raw=raw)
        assert resp.status == 400
        assert (await resp.json())["error"]["code"] in ("invalid_json", "invalid")
    assert await case_count(hotline) == 0


async def test_concurrent_pushes_of_the_same_order_make_one_case(hotline):
    # Several deliveries of one order at the same moment (the platform retrying
    # while the first is in flight), plus overlapping batches.
    singles = [push(hotline, ORDER) for _ in range(6)]
    batches = [push(hotline, {"orders": [{**ORDER, "order_id": f"D-{i}"} for i in range(j, j + 5)]}) for j in range(3)]
    responses = await asyncio.gather(*singles, *batches)
    bodies = [await r.json() for r in responses]
    assert all(r.status == 200 for r in responses)
    accepted = [oid for b in bodies for oid in b["accepted"]]
    duplicates = [oid for b in bodies for oid in b["duplicates"]]
    assert sorted(accepted) == sorted({ORDER["order_id"], *(f"D-{i}" for i in range(7))})
    assert len(accepted) + len(duplicates) == 6 + 15
    assert await case_count(hotline) == 8
    async with hotline.runtime.db.session() as session:
        numbers = (await session.execute(select(Case.number))).scalars().all()
    assert len(set(numbers)) == 8


async def test_the_hotline_is_off_without_a_secret(server):
    resp = await push(server, ORDER)
    assert resp.status == 404
    assert (await resp.json())["error"]["code"] == "hotline_disabled"


async def test_an_oversized_batch_is_refused_whole(hotline):
    from bot.domain.hotline_wire import MAX_BATCH

    orders = [{"order_id": f"F-{i}", "received_at": "2020-03-15 09:00", "content": "咨询"} for i in range(MAX_BATCH + 1)]
    resp = await push(hotline, {"orders": orders})
    assert resp.status == 413 and (await resp.json())["error"]["field"] == "orders"
    assert await case_count(hotline) == 0


async def test_an_oversized_body_is_a_json_413(hotline):
    body = json.dumps({"orders": [{**ORDER, "content": "长" * 400_000}] * 3}, ensure_ascii=False).encode()
    resp = await push(hotline, None, raw=body)
    assert resp.status == 413 and (await resp.json())["error"]["code"] == "too_large"
    assert await case_count(hotline) == 0


async def test_a_numeric_time_is_rejected_with_a_clear_reason(hotline):
    body = await (await push(hotline, {**ORDER, "received_at": 1584235260})).json()
    assert body["rejected"][0]["field"] == "received_at" and "ISO 8601" in body["rejected"][0]["error"]


async def test_non_json_numbers_and_absurd_dates_are_refused_cleanly(hotline):
    """NaN/Infinity are not JSON; an absurd date or number rejects that order
    only; nothing answers 500."""
    raw = b'{"order_id": "X-NaN", "received_at": "2020-03-15T09:21:00+08:00", "content": "c", "deadline": NaN}'
    resp = await push(hotline, None, raw=raw)
    assert resp.status == 400 and await case_count(hotline) == 0
    orders = {"orders": [
        {**ORDER, "order_id": "X-FAR", "received_at": "9999-12-31T23:00:00-05:00"},
        {**ORDER, "order_id": "X-BIG", "deadline": 1e300},
        {**ORDER, "order_id": "X-OK"},
    ]}
    resp = await push(hotline, orders)
    assert resp.status == 200
    body = await resp.json()
    assert body["accepted"] == ["X-OK"] and {r["order_id"] for r in body["rejected"]} == {"X-FAR", "X-BIG"}


async def test_a_caller_name_too_long_for_an_identity_is_kept(hotline):
    long_name = "某" * 180  # no phone: the name identifies the caller
    order = {**ORDER, "order_id": "X-LONG", "caller": {"name": long_name}}
    resp = await push(hotline, order)
    assert resp.status == 200 and (await resp.json())["accepted"] == ["X-LONG"]
    case, contact = await the_case(hotline, "X-LONG")
    assert contact.name == long_name and len(contact.identity) <= 128
