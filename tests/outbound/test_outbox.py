"""Results of 12345 work orders go back to the platform through the durable
outbox: signed, retried while the platform is down, kept across restarts,
never sent twice once acknowledged, visible to staff. Against a local
platform (tests/hotline_platform.py) that can fail, refuse or hang."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest_asyncio
from sqlalchemy import select

from bot.outbound.outbox import OutboxOptions, OutboxWorker
from storage.models import Case, Message, OutboxItem
from tests.conftest import make_settings
from tests.conftest import make_token as conftest_make_token
from tests.hotline_platform import HotlinePlatform, serve_app, signed

SECRET = "hotline-shared-secret-for-tests"
ORDER = {
    "order_id": "12345-20200315-000123",
    "received_at": "2020-03-15T09:21:00+08:00",
    "request_type": "咨询",
    "content": "来电人咨询人防车位能否出售",
    "caller": {"name": "张先生", "phone": "13800001234"},
}


@pytest_asyncio.fixture
async def platform():
    p = await HotlinePlatform(SECRET).start()
    try:
        yield p
    finally:
        await p.stop()


def hotline_settings(db_url, tmp_path, url):
    # Signed for by hand (below, as set-up): these tests watch results alone
    # go through the outbox; the 签收 and the order's whole life are
    # tests/outbound/test_hotline_life.py's.
    return make_settings(db_url, tmp_path, hotline_secret=SECRET, hotline_callback_url=url, hotline_auto_accept=False)


@pytest_asyncio.fixture
async def app(db_url, tmp_path, classifier, platform):
    client = await serve_app(hotline_settings(db_url, tmp_path, platform.url), classifier)
    client.token = await make_token(client.runtime)
    try:
        yield client
    finally:
        await client.close()


async def make_token(services) -> str:
    return await conftest_make_token(services, "wangwu", "王五")


def auth(client) -> dict:
    return {"Authorization": f"Bearer {client.token}"}


async def new_order(client, order_id: str = ORDER["order_id"]) -> int:
    body, headers = signed(SECRET, {**ORDER, "order_id": order_id})
    resp = await client.post("/hotline/orders", data=body, headers=headers)
    assert (await resp.json())["accepted"] == [order_id]
    async with client.runtime.db.session() as session:
        case = (await session.execute(select(Case).where(Case.external_id == order_id))).scalar_one()
        case.accepted_at = case.received_at  # signed for already
        await session.commit()
        return case.id


async def reply(client, case_id: int, text: str) -> dict:
    resp = await client.post(f"/api/v1/cases/{case_id}/replies", json={"text": text}, headers=auth(client))
    assert resp.status == 201
    return await resp.json()


async def outbox(client, **query) -> dict:
    resp = await client.get("/api/v1/outbox", params=query, headers=auth(client))
    assert resp.status == 200
    return await resp.json()


async def message_status(client, message_id: int) -> tuple[str, str | None]:
    async with client.runtime.db.session() as session:
        m = await session.get(Message, message_id)
        return m.status, m.error


async def eventually(check, timeout: float = 10.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await check()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


async def test_an_answer_reaches_the_platform_signed_once(app, platform):
    case_id = await new_order(app)
    sent = await reply(app, case_id, "您好，人防车位的使用管理请咨询所在小区物业，详见答复。")
    assert sent["status"] == "pending"
    (result,) = await platform.wait_for(1)
    assert platform.bad_signatures == 0  # the platform checked our signature
    assert result["order_id"] == ORDER["order_id"] and result["status"] == "answered"
    assert result["reply"].startswith("您好，人防车位") and result["handler"] == "王五"
    assert result["replied_at"].endswith("+08:00")
    assert await eventually(lambda: _is(app, sent["id"], "sent"))
    view = await outbox(app, status="sent")
    assert view["total"] == 1 and view["counts"] == {"pending": 0, "sent": 1, "failed": 0}
    assert view["items"][0]["order_id"] == ORDER["order_id"] and view["items"][0]["case_id"] == case_id
    # The worker keeps polling: an acknowledged result is never sent again.
    await asyncio.sleep(0.3)
    assert len(platform.results) == 1 and platform.attempts == 1


async def _is(client, message_id, status) -> bool:
    return (await message_status(client, message_id))[0] == status


async def test_retried_with_backoff_while_the_platform_is_down(app, platform):
    platform.fail_next = [500, 503, 502]
    case_id = await new_order(app)
    sent = await reply(app, case_id, "已答复")
    await platform.wait_for(1)
    assert platform.attempts == 4 and len(platform.results) == 1
    assert await eventually(lambda: _is(app, sent["id"], "sent"))
    item = (await outbox(app))["items"][0]
    assert item["status"] == "sent" and item["attempts"] == 4
    # Ops see the retries (counters are per process, hence at least).
    text = await (await app.get("/metrics")).text()
    retries = [line for line in text.splitlines()
               if line.startswith('intake_outbox_deliveries_total{outcome="retry",target="hotline"}')]
    assert retries and float(retries[0].split()[-1]) >= 3


async def test_a_refused_result_fails_visibly_and_staff_can_retry(app, platform):
    platform.fail_next = [400]
    case_id = await new_order(app)
    sent = await reply(app, case_id, "已答复，请查收")
    assert await eventually(lambda: _is(app, sent["id"], "failed"))
    status, error = await message_status(app, sent["id"])
    assert "HTTP 400" in error  # shown on the case, the reply kept as a draft
    failed = await outbox(app, status="failed")
    assert failed["total"] == 1 and "HTTP 400" in failed["items"][0]["last_error"]
    assert platform.results == []
    # Staff retry it; the platform now accepts.
    item_id = failed["items"][0]["id"]
    resp = await app.post(f"/api/v1/outbox/{item_id}/retry", headers=auth(app))
    assert resp.status == 200 and (await resp.json())["status"] == "pending"
    (result,) = await platform.wait_for(1)
    assert result["reply"] == "已答复，请查收"
    assert await eventually(lambda: _is(app, sent["id"], "sent"))
    again = await app.post(f"/api/v1/outbox/{item_id}/retry", headers=auth(app))
    assert again.status == 409  # only failed items can be retried


async def test_gives_up_after_the_attempt_limit(app, platform):
    platform.fail_next = [500] * 50
    case_id = await new_order(app)
    sent = await reply(app, case_id, "已答复")
    assert await eventually(lambda: _is(app, sent["id"], "failed"))
    item = (await outbox(app, status="failed"))["items"][0]
    assert item["attempts"] == 5 and "HTTP 500" in item["last_error"] and platform.attempts == 5


async def test_a_hanging_platform_times_out_and_is_retried(db_url, tmp_path, classifier, platform):
    platform.hang = True
    opts = OutboxOptions(poll_interval=0.05, base_delay=0.05, max_delay=0.1, max_attempts=50, send_timeout=0.3, lease=5)
    client = await serve_app(hotline_settings(db_url, tmp_path, platform.url), classifier, outbox_options=opts)
    client.token = await make_token(client.runtime)
    try:
        case_id = await new_order(client)
        await reply(client, case_id, "已答复")

        async def timed_out():
            items = (await outbox(client))["items"]
            return items and items[0]["attempts"] >= 2 and "超时" in (items[0]["last_error"] or "")

        assert await eventually(timed_out)
        platform.hang = False
        await platform.wait_for(1)
    finally:
        await client.close()


async def test_closing_without_a_reply_reports_the_closure_once(app, platform):
    case_id = await new_order(app)
    resp = await app.patch(f"/api/v1/cases/{case_id}", json={"status": "closed"}, headers=auth(app))
    assert resp.status == 200
    (result,) = await platform.wait_for(1)
    assert result["status"] == "closed" and result["order_id"] == ORDER["order_id"] and result["reply"] == ""
    # A case answered with a reply and then closed: the platform has the answer already.
    other = await new_order(app, "12345-20200315-000124")
    await reply(app, other, "已答复")
    await platform.wait_for(2)
    await app.patch(f"/api/v1/cases/{other}", json={"status": "closed"}, headers=auth(app))
    await asyncio.sleep(0.3)
    assert [r["status"] for r in platform.results] == ["closed", "answered"]


async def test_pending_results_survive_a_restart(db_url, tmp_path, classifier):
    # The platform is unreachable while the first server runs.
    platform = HotlinePlatform(SECRET)
    await platform.start()
    url = platform.url
    await platform.stop()
    first = await serve_app(hotline_settings(db_url, tmp_path, url), classifier)
    first.token = await make_token(first.runtime)
    case_id = await new_order(first)
    sent = await reply(first, case_id, "已答复")

    async def tried():
        items = (await outbox(first))["items"]
        return items if items and items[0]["attempts"] >= 1 and items[0]["last_error"] else None

    items = await eventually(tried)
    assert "无法连接12345平台" in items[0]["last_error"] and items[0]["status"] == "pending"
    await first.close()
    # The platform comes back on the same address; a new server process takes over.
    port = int(url.split(":")[2].split("/")[0])
    await platform.start(port=port)
    second = await serve_app(hotline_settings(db_url, tmp_path, url), classifier)
    try:
        (result,) = await platform.wait_for(1)
        assert result["reply"] == "已答复"
        assert await eventually(lambda: _is(second, sent["id"], "sent"))
    finally:
        await second.close()
        await platform.stop()


async def test_a_claim_abandoned_by_a_crashed_worker_is_taken_over(app, platform):
    case_id = await new_order(app)
    # A worker that claimed the item and died before sending: its lease runs out.
    async with app.runtime.db.session() as session:
        session.add(OutboxItem(target="hotline", case_id=case_id, status="pending", attempts=1,
                               payload={"order_id": ORDER["order_id"], "status": "closed", "reply": "",
                                        "replied_at": "2020-03-16T08:00:00+00:00", "handler": "王五"},
                               next_attempt_at=datetime.now(timezone.utc),
                               locked_until=datetime.now(timezone.utc) + timedelta(seconds=0.5)))
        await session.commit()
    await asyncio.sleep(0.3)
    assert platform.attempts == 0  # still leased
    (result,) = await platform.wait_for(1)
    assert result["replied_at"] == "2020-03-16T16:00:00+08:00"


async def test_several_workers_deliver_each_item_exactly_once(app, platform, db_url, tmp_path, classifier):
    # A second server process on the same database (its own engine and worker).
    other = await serve_app(hotline_settings(db_url, tmp_path, platform.url), classifier)
    try:
        # Queue 30 results at once, committed together, so both workers race for them.
        case_id = await new_order(app)
        async with app.runtime.db.session() as session:
            for i in range(30):
                session.add(OutboxItem(target="hotline", case_id=case_id,
                                       payload={"order_id": f"E-{i}", "status": "answered", "reply": str(i),
                                                "replied_at": "2020-03-16T08:00:00+00:00", "handler": "x"}))
            await session.commit()
        results = await platform.wait_for(30)

        async def all_sent():
            async with app.runtime.db.session() as session:
                statuses = (await session.execute(select(OutboxItem.status))).scalars().all()
            return statuses == ["sent"] * 30

        assert await eventually(all_sent)
        await asyncio.sleep(0.3)  # both workers keep polling: nothing is sent again
        assert sorted(r["order_id"] for r in results) == sorted(f"E-{i}" for i in range(30))
        assert len(platform.delivery_ids) == len(set(platform.delivery_ids)) == 30
        assert app.runtime.outbox.sent + other.runtime.outbox.sent == 30
    finally:
        await other.close()


async def test_outbox_view_needs_a_token_and_masks_numbers(app, platform):
    assert (await app.get("/api/v1/outbox")).status == 401
    platform.fail_next = [400]
    case_id = await new_order(app)
    await reply(app, case_id, "已电话联系您（13800001234），问题已处理")
    await eventually(lambda: _has_failed(app))
    item = (await outbox(app, status="failed"))["items"][0]
    assert "138****1234" in item["text"] and "13800001234" not in str(item)
    bad = await app.get("/api/v1/outbox?status=lost", headers=auth(app))
    assert bad.status == 400 and (await bad.json())["error"]["field"] == "status"


async def _has_failed(client) -> bool:
    return (await outbox(client, status="failed"))["total"] == 1


async def test_without_a_worker_nothing_is_lost(db_url, tmp_path, classifier, platform):
    # The reply is committed with its outbox row; a worker started later sends it.
    client = await serve_app(hotline_settings(db_url, tmp_path, platform.url), classifier)
    client.token = await make_token(client.runtime)
    try:
        await client.runtime.outbox.stop()
        case_id = await new_order(client)
        sent = await reply(client, case_id, "已答复")
        await asyncio.sleep(0.2)
        assert platform.attempts == 0
        worker = OutboxWorker(client.runtime.db, client.runtime.outbox.senders, OutboxOptions())
        assert await worker.run_once() == 1
        assert platform.results[0]["reply"] == "已答复"
        assert await worker.run_once() == 0
        assert await _is(client, sent["id"], "sent")
    finally:
        await client.close()


async def test_staff_see_and_retry_failed_results_in_the_inbox(app, platform):
    from tests.inbox_staff import add_user, csrf_of, login, page

    anonymous = await app.get("/inbox/outbox", allow_redirects=False)
    assert anonymous.status in (302, 303) and "/login" in anonymous.headers["Location"]
    platform.fail_next = [400]
    case_id = await new_order(app)
    await reply(app, case_id, "已电话联系您（13800001234），问题已处理")
    await eventually(lambda: _has_failed(app))
    await add_user(app.runtime, "zhaoliu")
    assert (await login(app, "zhaoliu")).status in (302, 303)
    html = await page(app, "/inbox/outbox?status=failed")
    assert "外发队列" in html and "发送失败 <span class=\"count\">1</span>" in html and ORDER["order_id"] in html
    assert "HTTP 400" in html and "重新发送" in html
    item_id = (await outbox(app, status="failed"))["items"][0]["id"]
    forged = await app.post(f"/inbox/outbox/{item_id}/retry", data={}, allow_redirects=False)
    assert forged.status == 403 and platform.results == []  # no CSRF token, nothing done
    resp = await app.post(f"/inbox/outbox/{item_id}/retry", data={"csrf_token": csrf_of(html)}, allow_redirects=False)
    assert resp.status == 303
    (result,) = await platform.wait_for(1)
    assert result["order_id"] == ORDER["order_id"]
    async def shown_as_sent():
        html = await page(app, "/inbox/outbox?status=sent")
        return "已送达 <span class=\"count\">1</span>" in html and f"/inbox/cases/{case_id}" in html

    assert await eventually(shown_as_sent)


async def test_stopping_as_the_worker_is_woken_still_stops_it():
    # Stopping the server cancels the worker; a reply queued at the same
    # moment sets its wake-up event. Whichever lands first, the worker must
    # stop (Python 3.11's wait_for dropped the cancellation in one ordering
    # and `intake serve` then never exited).
    for turns in range(8):
        worker = OutboxWorker(None, {}, OutboxOptions(poll_interval=30))  # no targets: it only waits
        worker.start()
        for _ in range(3):
            await asyncio.sleep(0)  # into its wait
        worker.notify()
        for _ in range(turns):
            await asyncio.sleep(0)
        stopping = asyncio.create_task(worker.stop())
        done, _ = await asyncio.wait({stopping}, timeout=2)
        assert stopping in done, f"the worker went on after stop() ({turns} turns after the wake-up)"
