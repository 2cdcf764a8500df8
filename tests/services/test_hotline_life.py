"""A 12345 work order's whole life against a platform that keeps its own
state (tests/fake_12345.py): 派单 → 签收 → 阶段性答复 → 延期 granted → 办结 →
回访 不满意 → 重办 → 办结 → 回访 满意, both sides agreeing at every step, on
SQLite and PostgreSQL; bad events refused one by one; 签收 by hand;
reconciliation recovering lost pushes and applying nothing twice; and a
real server process killed mid-way, restarted, losing and repeating nothing."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from sqlalchemy import func, select

from bot.domain.hotline_wire import sign
from bot.outbound.hotline_client import HotlinePuller, PullError
from bot.services import hotline, reports, stats
from storage.database import Database
from storage.models import AuditEntry, Case, HotlineEvent
from tests.conftest import make_settings, make_token
from tests.fake_12345 import TZ, FakePlatform
from tests.hotline_platform import serve_app

SECRET = "shared-secret-with-the-12345-platform"
ORDER_ID = "12345-20261203-000001"


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


@pytest_asyncio.fixture
async def platform():
    fake = await FakePlatform(SECRET).start()
    try:
        yield fake
    finally:
        await fake.stop()


async def start_app(db_url, tmp_path, classifier, platform, **overrides):
    settings = make_settings(db_url, tmp_path, hotline_secret=SECRET, hotline_callback_url=platform.url("/messages"),
                             hotline_pull_url=platform.url("/changes"), hotline_sync_minutes=0, **overrides)
    client = await serve_app(settings, classifier)
    platform.intake_url = str(client.make_url("")).rstrip("/")
    client.token = await make_token(client.runtime, "liming", "李明")
    return client


@pytest_asyncio.fixture
async def app(db_url, tmp_path, classifier, platform):
    client = await start_app(db_url, tmp_path, classifier, platform)
    try:
        yield client
    finally:
        await client.close()


async def our_case(client, order_id: str = ORDER_ID) -> Case:
    async with client.runtime.db.session() as s:
        return (await s.execute(select(Case).where(Case.external_id == order_id))).scalar_one()


async def api(client, path: str, body: dict, status: int = 200) -> dict:
    case = await our_case(client)
    resp = await client.post(f"/api/v1/cases/{case.id}/{path}", json=body, headers=auth(client.token))
    assert resp.status == status, await resp.text()
    return await resp.json()


async def test_an_order_from_dispatch_to_a_satisfied_rating(app, platform):
    pushed = await platform.dispatch(ORDER_ID, "小区地下人防工程漏水，物业一直不修")
    assert pushed["accepted"] == [ORDER_ID]
    order = platform.orders[ORDER_ID]

    # 签收, on receipt.
    assert await platform.wait_for(ORDER_ID, 1) == ["accepted"]
    assert (await our_case(app)).accepted_at is not None and order.state == "accepted"

    # 阶段性答复.
    await api(app, "replies", {"text": "已转物业核实，三日内回复。", "type": "interim"}, 201)
    assert await platform.wait_for(ORDER_ID, 2) == ["accepted", "progress"]
    assert (await our_case(app)).status == "new"

    # 延期: asked of the platform, granted to its date.
    asked = await api(app, "extension", {"working_days": 5, "reason": "需现场勘查"})
    assert asked["extension"]["status"] == "pending" and asked["deadline"] == (await our_case(app)).deadline_at \
        .astimezone(TZ).isoformat()
    await platform.wait_for(ORDER_ID, 3)
    assert order.pending_extension["working_days"] == 5 and order.pending_extension["reason"] == "需现场勘查"
    new_deadline = (order.deadline + timedelta(days=7)).replace(microsecond=0)
    answer = (await platform.event(ORDER_ID, "extension_result", approved=True,
                                   deadline=new_deadline.isoformat()))["answer"]
    assert len(answer["accepted"]) == 1
    case = await our_case(app)
    assert case.deadline_at == new_deadline and case.extended_days == 5

    # 办结.
    await api(app, "replies", {"text": "已督促物业维修，现已修复。", "type": "final"}, 201)
    assert (await platform.wait_for(ORDER_ID, 4))[-1] == "result"
    assert order.state == "finished" and order.results[0]["status"] == "answered"
    assert order.results[0]["reply"] == "已督促物业维修，现已修复。" and order.results[0]["handler"] == "李明"
    assert (await our_case(app)).status == "answered"

    # 回访: 不满意; the platform orders 重办 with its deadline.
    await platform.event(ORDER_ID, "rating", score=2, comment="还在漏水")
    case = await our_case(app)
    assert (case.status, case.rating) == ("answered", 2)  # the platform decides on 重办, not the score
    redo_deadline = (datetime.now(TZ) + timedelta(days=5)).replace(microsecond=0)
    await platform.event(ORDER_ID, "redo", reason="群众不满意，重新办理", deadline=redo_deadline.isoformat())
    case = await our_case(app)
    assert (case.status, case.reopened, case.answered_at, case.deadline_at) == ("in_progress", 1, None, redo_deadline)

    # 办结 again, then 满意.
    await api(app, "replies", {"text": "已更换防水层，经复查无渗漏。", "type": "final"}, 201)
    assert (await platform.wait_for(ORDER_ID, 5))[-1] == "result"
    await platform.event(ORDER_ID, "rating", score=5)

    # Both sides agree: every message once, in order, none refused.
    assert order.log == ["accepted", "progress", "extension_request", "result", "result"]
    assert platform.refused == [] and platform.bad_signatures == 0 and order.ratings == [2, 5]
    case = await our_case(app)
    assert (case.status, case.reopened, case.rating, case.ratings_given, case.ratings_satisfied, case.extended_days) \
        == ("answered", 1, 5, 2, 1, 5)
    async with app.runtime.db.session() as s:
        applied = (await s.execute(select(HotlineEvent.type).order_by(HotlineEvent.applied_at))).scalars().all()
        logged = (await s.execute(select(AuditEntry.action).where(AuditEntry.case_id == case.id)
                                  .order_by(AuditEntry.id))).scalars().all()
    assert applied == ["extension_result", "rating", "redo", "rating"]
    for action in ("case.accepted", "case.extension_requested", "case.extended", "case.rated", "case.reopened"):
        assert action in logged, action

    # The platform pushes every event again: nothing is applied twice.
    events = [e for _, kind, e in platform.journal if kind == "event"]
    again = await platform._push("/hotline/events", {"events": events})
    assert again["duplicates"] == [e["event_id"] for e in events] and again["accepted"] == []
    assert (await our_case(app)).version == case.version


async def test_bad_events_are_refused_one_by_one_and_the_rest_applied(app, platform):
    await platform.dispatch(ORDER_ID, "人防车位被占用")
    await platform.wait_for(ORDER_ID, 1)
    now = datetime.now(TZ).isoformat(timespec="seconds")
    events = [
        {"event_id": "B-1", "order_id": "NO-SUCH-ORDER", "type": "urge", "at": now},
        {"event_id": "B-2", "order_id": ORDER_ID, "type": "teleport", "at": now},
        {"event_id": "B-3", "order_id": ORDER_ID, "type": "rating", "score": 6, "at": now},
        {"event_id": "B-4", "order_id": ORDER_ID, "type": "redo", "reason": "重办", "at": now},  # not answered yet
        {"event_id": "B-5", "order_id": ORDER_ID, "type": "urge", "note": "请尽快办理", "at": now},
        {"event_id": "B-5", "order_id": ORDER_ID, "type": "supervise", "at": now},  # replayed id
        {"event_id": "B-6", "order_id": ORDER_ID, "type": "extension_result", "approved": True, "at": now},
        "not an object",
        {"event_id": "B-7", "order_id": ORDER_ID, "type": "cancel", "at": "yesterday"},
    ]
    before = await our_case(app)
    answer = await platform._push("/hotline/events", {"events": events})
    errors = {r["event_id"]: (r["error"], r.get("field")) for r in answer["rejected"]}
    assert answer["accepted"] == ["B-5"] and answer["duplicates"] == ["B-5"]
    assert errors == {"B-1": ("unknown_order", None), "B-2": ("unknown_type", "type"),
                      "B-3": ("invalid", "score"), "B-4": ("not_allowed", "status"),
                      "B-6": ("not_allowed", "approved"), None: ("invalid", None), "B-7": ("invalid", "at")}
    case = await our_case(app)
    assert case.urged == "催办" and case.status == before.status and case.deadline_at == before.deadline_at
    # A refused event may come again once it makes sense; a replay of an applied one is a duplicate.
    await api(app, "replies", {"text": "已处理。", "type": "final"}, 201)
    retry = await platform._push("/hotline/events", {"events": [events[3], events[4]]})
    assert retry["accepted"] == ["B-4"] and retry["duplicates"] == ["B-5"]


@pytest.mark.parametrize("problem", ["forged", "stale", "missing"])
async def test_a_forged_or_stale_signature_changes_nothing(app, platform, problem):
    await platform.dispatch(ORDER_ID, "人防车位被占用")
    body = json.dumps({"events": [{"event_id": "S-1", "order_id": ORDER_ID, "type": "urge",
                                   "at": datetime.now(TZ).isoformat()}]}).encode()
    ts = str(int(time.time()) - (1000 if problem == "stale" else 0))
    headers = {"X-Intake-Timestamp": ts, "X-Intake-Signature": sign("not-the-secret" if problem == "forged" else SECRET,
                                                                     ts, body)}
    if problem == "missing":
        headers = {}
    resp = await app.post("/hotline/events", data=body, headers=headers)
    assert resp.status == 401 and (await resp.json())["error"]["code"] == "unauthorized"
    assert (await our_case(app)).urged is None


async def test_signed_for_by_a_staff_click_when_not_automatic(db_url, tmp_path, classifier, platform):
    client = await start_app(db_url, tmp_path, classifier, platform, hotline_auto_accept=False)
    try:
        await platform.dispatch(ORDER_ID, "人防工程出入口被堵")
        case = await our_case(client)
        assert case.accepted_at is None and platform.orders[ORDER_ID].log == []
        # Nothing goes to the platform about an order before its 签收.
        refused = await client.post(f"/api/v1/cases/{case.id}/replies", json={"text": "收到", "type": "interim"},
                                    headers=auth(client.token))
        assert refused.status == 409 and (await refused.json())["error"]["field"] == "accepted_at"
        listing = await client.get("/api/v1/cases", headers=auth(client.token))
        assert listing.status == 200
        from bot.domain.actors import Actor
        from bot.domain.inbox import CaseFilter
        from bot.services import cases

        page = await cases.inbox(client.runtime, Actor("test"), view="unaccepted", selection=CaseFilter(),
                                 search=None, sort="newest", page=0, before_id=None)
        assert [r.case.external_id for r in page.rows] == [ORDER_ID] and page.counts["unaccepted"] == 1
        signed = await api(client, "accept", {})
        assert signed["accepted_at"] is not None
        assert await platform.wait_for(ORDER_ID, 1) == ["accepted"]
        assert platform.orders[ORDER_ID].results == [] and platform.orders[ORDER_ID].state == "accepted"
        again = await client.post(f"/api/v1/cases/{case.id}/accept", headers=auth(client.token))
        assert again.status == 409
        page = await cases.inbox(client.runtime, Actor("test"), view="unaccepted", selection=CaseFilter(),
                                 search=None, sort="newest", page=0, before_id=None)
        assert page.rows == [] and page.counts["unaccepted"] == 0
    finally:
        await client.close()


async def test_a_return_request_waits_for_the_platform(app, platform):
    await platform.dispatch(ORDER_ID, "楼下餐馆油烟扰民")
    await platform.wait_for(ORDER_ID, 1)
    asked = await api(app, "return", {"reason": "餐饮油烟不属人防部门职责", "basis": "《大气污染防治法》第八十一条"})
    assert asked["status"] == "new" and asked["return_requested"]["basis"] == "《大气污染防治法》第八十一条"
    await platform.wait_for(ORDER_ID, 2)
    assert platform.orders[ORDER_ID].pending_return["reason"] == "餐饮油烟不属人防部门职责"
    twice = await api(app, "return", {"reason": "再次申请", "basis": "同上"}, 409)
    assert twice["error"]["code"] == "pending"
    await platform.event(ORDER_ID, "return_result", approved=False, reason="请先核实")
    case = await our_case(app)
    assert case.status == "new" and case.return_requested_at is None
    await api(app, "return", {"reason": "经核实不属本单位职责", "basis": "《大气污染防治法》第八十一条"})
    await platform.wait_for(ORDER_ID, 3)
    await platform.event(ORDER_ID, "return_result", approved=True)
    case = await our_case(app)
    assert case.status == "returned" and case.returned_at is not None


async def test_an_extension_after_the_deadline_is_refused_before_it_reaches_the_platform(app, platform):
    await platform.dispatch(ORDER_ID, "咨询人防工程使用", days=1)
    await platform.wait_for(ORDER_ID, 1)
    async with app.runtime.db.session() as s:
        case = (await s.execute(select(Case).where(Case.external_id == ORDER_ID))).scalar_one()
        case.deadline_at = datetime.now(TZ) - timedelta(hours=1)
        await s.commit()
    refused = await api(app, "extension", {"working_days": 3, "reason": "需协调"}, 409)
    assert "期限已过" in refused["error"]["message"]
    assert platform.orders[ORDER_ID].log == ["accepted"] and platform.refused == []


async def test_a_cancelled_order_closes_unanswered_and_counts_apart(app, platform):
    await platform.dispatch(ORDER_ID, "人防工程噪音扰民")
    await platform.wait_for(ORDER_ID, 1)
    await platform.event(ORDER_ID, "cancel", reason="市民撤回诉求")
    case = await our_case(app)
    assert (case.status, case.answered_at) == ("closed", None) and case.cancelled_at is not None
    assert platform.orders[ORDER_ID].state == "cancelled"
    # Nothing more goes to the platform about a withdrawn order.
    refused = await api(app, "replies", {"text": "已处理。", "type": "final"}, 409)
    assert refused["error"]["field"] == "status"
    day = datetime.now(TZ).date().isoformat()
    total = (await stats.table(app.runtime, day, day, "channel"))["total"]
    assert (total["received"], total["answered"], total["cancelled"], total["open_overdue"]) == (1, 0, 1, 0)
    calendar = await app.runtime.calendar.refresh(force=True)
    report = await reports.build(app.runtime.db, datetime.now(TZ).year, calendar=calendar)
    inter = report["interactions"]
    assert (inter["cancelled"], inter["answered_time_unknown"], inter["open"]) == (1, 0, 0)
    assert all(c["ok"] for c in report["checks"]), report["checks"]


async def test_reconciliation_recovers_lost_pushes_and_applies_nothing_twice(app, platform):
    await platform.dispatch(ORDER_ID, "人防工程渗水")  # pushed
    await platform.wait_for(ORDER_ID, 1)
    platform.lose_pushes = True
    await platform.dispatch("12345-20261203-000002", "防空警报听不清")  # lost
    await platform.event(ORDER_ID, "urge", note="市民再次来电")  # lost
    assert (await our_case(app)).urged is None
    rt = app.runtime
    async with aiohttp.ClientSession() as http:
        puller = HotlinePuller(rt.settings, lambda: http)
        first = await hotline.sync(rt, puller.page)
        # The fake answers from its whole journal (three items), two a page.
        assert first.pages == 2 and first.until is not None
        assert first.orders.accepted == ["12345-20261203-000002"] and first.orders.duplicates == [ORDER_ID]
        assert len(first.events.accepted) == 1
        second = await hotline.sync(rt, puller.page)
        assert second.orders.accepted == [] and second.events.accepted == []
        assert len(second.events.duplicates) == 1
    assert (await our_case(app)).urged == "催办"
    async with rt.db.session() as s:
        assert (await s.execute(select(func.count()).select_from(Case))).scalar_one() == 2
    # The recovered order is signed for like a pushed one.
    await platform.wait_for("12345-20261203-000002", 1)


async def test_one_worker_of_several_reconciles_when_due_or_at_its_start(app, platform):
    await platform.dispatch(ORDER_ID, "人防工程渗水")
    rt, every = app.runtime, timedelta(minutes=10)
    async with aiohttp.ClientSession() as http:
        page = HotlinePuller(rt.settings, lambda: http).page
        assert await hotline.sync_if_due(rt, page, "host-a:1", every) is not None
        assert await hotline.sync_if_due(rt, page, "host-b:2", every) is None  # not due: a synced just now
        # Two processes starting together: one syncs, the other finds it running.
        both = await asyncio.gather(hotline.sync_if_due(rt, page, "host-a:3", every, at_start=True),
                                    hotline.sync_if_due(rt, page, "host-b:4", every, at_start=True))
        assert sum(outcome is not None for outcome in both) == 1
        # A failed sync leaves no lease behind: the next one runs.
        platform.down = True
        with pytest.raises(PullError):
            await hotline.sync_if_due(rt, page, "host-a:3", every, at_start=True)
        platform.down = False
        assert await hotline.sync_if_due(rt, page, "host-b:4", every, at_start=True) is not None


# ---- a real server process, killed mid-way ------------------------------------------------

INTAKE = str(Path(sys.executable).with_name("intake"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _serve(env: dict, port: int, log: Path) -> subprocess.Popen:
    with log.open("ab") as out:
        server = subprocess.Popen([INTAKE, "serve", "--port", str(port)], env=env, stdout=out, stderr=out)
    async with aiohttp.ClientSession() as http:
        for _ in range(240):
            try:
                async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                    if resp.status == 200:
                        return server
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.25)
    server.kill()
    raise AssertionError("intake serve did not start:\n" + log.read_text(errors="replace")[-3000:])


async def test_killing_the_server_mid_way_loses_and_repeats_nothing(db_url, tmp_path, platform):
    env = {**os.environ, "INTAKE_DATABASE_URL": db_url, "INTAKE_VAR_DIR": str(tmp_path / "var"),
           "INTAKE_WECHAT_TOKEN": "", "INTAKE_HOTLINE_SECRET": SECRET,
           "INTAKE_HOTLINE_CALLBACK_URL": platform.url("/messages"), "INTAKE_HOTLINE_PULL_URL": platform.url("/changes"),
           "INTAKE_HOTLINE_SYNC_MINUTES": "1", "INTAKE_SECRET_KEY": "hotline-life-key"}
    subprocess.run([INTAKE, "db", "upgrade"], env=env, check=True, capture_output=True)
    subprocess.run([INTAKE, "user", "add", "liming", "--password-stdin"], env=env, input="a-long-password\n",
                   text=True, check=True, capture_output=True)
    token = subprocess.run([INTAKE, "token", "create", "liming"], env=env, check=True, capture_output=True,
                           text=True).stdout.strip()
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    platform.intake_url = base
    db = Database(db_url)

    async def case_id() -> int:
        async with db.session() as s:
            return (await s.execute(select(Case.id).where(Case.external_id == ORDER_ID))).scalar_one()

    async def post(http, path: str, body: dict) -> dict:
        async with http.post(f"{base}/api/v1/cases/{await case_id()}/{path}", json=body,
                             headers=auth(token)) as resp:
            assert resp.status in (200, 201), await resp.text()
            return await resp.json()

    first = await _serve(env, port, tmp_path / "serve.log")
    try:
        async with aiohttp.ClientSession() as http:
            await platform.dispatch(ORDER_ID, "小区地下人防工程漏水，物业一直不修")
            await platform.wait_for(ORDER_ID, 1)
            await post(http, "replies", {"text": "已转物业核实，三日内回复。", "type": "interim"})
            await platform.wait_for(ORDER_ID, 2)
            platform.down = True  # the extension request is queued and fails for now
            await post(http, "extension", {"working_days": 5, "reason": "需现场勘查"})

            async def tried() -> bool:
                async with http.get(f"{base}/api/v1/outbox", headers=auth(token)) as resp:
                    items = (await resp.json())["items"]
                # Tried, and the failure recorded (a claim still held would wait out its lease).
                return any(i["status"] == "pending" and i["last_error"] for i in items)

            for _ in range(200):
                if await tried():
                    break
                await asyncio.sleep(0.05)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        # While the server is dead the platform urges; the push is lost.
        platform.lose_pushes = True
        await platform.event(ORDER_ID, "urge", note="市民再次来电催促")
        platform.lose_pushes, platform.down = False, False

        second = await _serve(env, port, tmp_path / "serve.log")  # its first reconciliation finds the urge
        try:
            async with aiohttp.ClientSession() as http:
                await platform.wait_for(ORDER_ID, 3, timeout=60)  # the extension request, retried
                order = platform.orders[ORDER_ID]
                granted = (order.deadline + timedelta(days=7)).replace(microsecond=0)
                await platform.event(ORDER_ID, "extension_result", approved=True, deadline=granted.isoformat())
                await post(http, "replies", {"text": "已督促物业维修，现已修复。", "type": "final"})
                await platform.wait_for(ORDER_ID, 4)
                await platform.event(ORDER_ID, "rating", score=2)
                await platform.event(ORDER_ID, "redo", reason="群众不满意")
                await post(http, "replies", {"text": "已更换防水层。", "type": "final"})
                await platform.wait_for(ORDER_ID, 5)
                await platform.event(ORDER_ID, "rating", score=5)
        finally:
            second.terminate()
            second.wait(timeout=30)

        assert order.log == ["accepted", "progress", "extension_request", "result", "result"]
        assert platform.refused == [] and platform.repeats == 0 and len(platform.deliveries) == 5
        async with db.session() as s:
            case = (await s.execute(select(Case).where(Case.external_id == ORDER_ID))).scalar_one()
            applied = sorted((await s.execute(select(HotlineEvent.type))).scalars().all())
            urges = (await s.execute(select(func.count()).select_from(AuditEntry).where(
                AuditEntry.case_id == case.id, AuditEntry.action == "case.urged"))).scalar_one()
        assert (case.status, case.reopened, case.rating, case.extended_days) == ("answered", 1, 5, 5)
        assert applied == ["extension_result", "rating", "rating", "redo", "urge"] and urges == 1
    finally:
        if first.poll() is None:
            first.kill()
        await db.close()
