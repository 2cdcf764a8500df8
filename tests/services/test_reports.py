"""Acceptance: the model office's 2020 (DOMAIN.md §1) entered the way it
really arrives (staff API for portal letters, platform items and the two
disclosure requests, the 12345 platform's signed push for hotline orders),
and the annual report must give exactly those numbers, every check passing,
on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import datetime, timedelta, timezone

import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from bot.app import build_runtime
from tests.conftest import make_settings

HOTLINE_SECRET = "acceptance-hotline-secret"
KINDS_CYCLE = ("consultation", "complaint", "suggestion", "help", "consultation", "report")


@pytest_asyncio.fixture
async def office(db_url, tmp_path, classifier):
    """The real app with the hotline push on, and a staff token."""
    from bot.app import create_app
    from bot.domain.security import hash_password, new_token, token_hash
    from storage.models import ApiToken, User

    settings = make_settings(db_url, tmp_path, hotline_secret=HOTLINE_SECRET)
    services = build_runtime(settings, classifier=classifier)
    client = TestClient(TestServer(create_app(settings, services), host="127.0.0.1"))
    await client.start_server()
    client.runtime = services
    async with services.db.session() as session:
        user = User(username="gongkai", role="staff", password_hash=hash_password("correct horse"))
        session.add(user)
        await session.flush()
        token = new_token()
        session.add(ApiToken(user_id=user.id, name="acceptance", token_hash=token_hash(token)))
        await session.commit()
    client.auth = {"Authorization": f"Bearer {token}"}
    try:
        yield client
    finally:
        await client.close()


def _local(day_of_year: int, hour: int = 10) -> str:
    start = datetime(2020, 1, 1, hour, 0, tzinfo=timezone(timedelta(hours=8)))
    return (start + timedelta(days=day_of_year)).isoformat()


async def _enter(client, channel: str, received_at: str, text: str, kind: str, **extra) -> dict:
    resp = await client.post("/api/v1/cases", headers=client.auth, json={
        "channel": channel, "received_at": received_at, "text": text, "kind": kind,
        "contact": {"name": "群众", "phone": "13800001234"}, **extra,
    })
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def _push_orders(client, orders: list[dict]) -> dict:
    body = json.dumps({"orders": orders}, ensure_ascii=False).encode()
    ts = str(int(time.time()))
    sig = hmac.new(HOTLINE_SECRET.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    resp = await client.post("/hotline/orders", data=body, headers={
        "Content-Type": "application/json", "X-Intake-Timestamp": ts, "X-Intake-Signature": sig})
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def _enter_model_year(client) -> None:
    # 104 letters in the website's letter box, across the year; the first
    # arrives 00:10 on 1 January Beijing time (still 2019 in UTC).
    for i in range(104):
        at = "2020-01-01T00:10:00+08:00" if i == 0 else _local(i * 3 + 1)
        await _enter(client, "portal", at, f"门户网站来信第{i + 1}件：关于人防工程的问题", KINDS_CYCLE[i % 6],
                     external_id=f"WZ-2020-{i + 1:04d}")
    # 34 items from the government interaction platform; the last one late
    # on 31 December.
    for i in range(34):
        at = "2020-12-31T23:30:00+08:00" if i == 33 else _local(i * 10 + 5)
        await _enter(client, "platform", at, f"政府互动平台咨询第{i + 1}件", KINDS_CYCLE[i % 6],
                     external_id=f"PT-2020-{i + 1:04d}")
    # 4 orders of the 12345 hotline, pushed by the platform.
    orders = [
        {"order_id": f"12345-2020-{i:06d}", "received_at": _local(40 * i + 20),
         "request_type": ["咨询", "投诉", "求助", "建议"][i], "title": "人防相关诉求",
         "content": f"来电人反映人防车位问题第{i + 1}件", "caller": {"name": "李女士", "phone": "13900005678"}}
        for i in range(4)
    ]
    result = await _push_orders(client, orders)
    assert len(result["accepted"]) == 4 and not result["rejected"]
    # Noise that must not count in 2020: 00:30 on 1 January 2021 Beijing time
    # is still 2020 in UTC.
    await _enter(client, "portal", "2021-01-01T00:30:00+08:00", "新年第一封来信", "consultation")
    await _enter(client, "portal", "2019-12-31T23:50:00+08:00", "旧年最后一封来信", "consultation")

    # Two disclosure requests from natural persons: one by post, one in person.
    first = await _enter(client, "letter", _local(100), "申请公开本单位2019年人防工程易地建设费收支情况",
                         "disclosure_request")
    second = await _enter(client, "in_person", _local(200), "申请公开某小区人防工程竣工验收备案文件",
                          "disclosure_request")
    for case, outcome, days in ((first, "r1", 12), (second, "r4_1", 15)):
        received = datetime.fromisoformat(case["received_at"]).date()
        resp = await client.put(f"/api/v1/cases/{case['id']}/disclosure", headers=client.auth, json={
            "applicant_type": "natural_person", "name": "王某", "id_proof": "360102198001011234",
            "contact": "13712345678", "description": case["text"], "delivery_form": "纸质",
            "outcome": outcome, "decided_at": (received + timedelta(days=days)).isoformat(),
        })
        assert resp.status == 201, await resp.text()


async def test_the_model_office_2020_report_gives_exactly_its_numbers(office):
    await _enter_model_year(office)
    resp = await office.get("/api/v1/reports/2020", headers=office.auth)
    assert resp.status == 200, await resp.text()
    report = await resp.json()

    assert report["year"] == 2020 and report["template"] == "2019"
    inter = report["interactions"]
    assert inter["by_channel"] == {"hotline": 4, "portal": 104, "platform": 34, "letter": 1, "in_person": 1}
    assert inter["total"] == 144
    assert inter["by_kind"]["disclosure_request"] == 2
    assert sum(inter["by_kind"].values()) == 144
    assert sum(inter["by_channel_kind"]["portal"].values()) == 104
    assert inter["answered_on_time"] == 2 and inter["answered_late"] == 0 and inter["open"] == 142

    rows = report["table3"]["rows"]
    assert rows["new"] == {"natural_person": 2, "commercial": 0, "research": 0, "public_welfare": 0,
                           "legal_service": 0, "other_org": 0, "total": 2}
    assert rows["carried_in"]["total"] == 0 and rows["carried_out"]["total"] == 0
    assert rows["r1"]["natural_person"] == 1 and rows["r1"]["total"] == 1
    assert rows["r4_1"]["natural_person"] == 1 and rows["r4_1"]["total"] == 1
    assert rows["r7"]["natural_person"] == 2 and rows["r7"]["total"] == 2
    assert "r6" in rows and "r6_1" not in rows  # the 2019 trial format for 2020
    others = {k: v["total"] for k, v in rows.items() if k not in ("new", "r1", "r4_1", "r7")}
    assert set(others.values()) == {0}
    assert all(v["total"] == 0 for v in report["table4"].values())
    failed = [c for c in report["checks"] if not c["ok"]]
    assert report["checks"] and not failed, failed

    # The neighbouring years got the noise, not 2020's letters.
    nxt = await (await office.get("/api/v1/reports/2021", headers=office.auth)).json()
    assert nxt["template"] == "2021" and nxt["interactions"]["by_channel"] == {"portal": 1}
    assert nxt["table3"]["rows"]["carried_in"]["total"] == 0
    prev = await (await office.get("/api/v1/reports/2019", headers=office.auth)).json()
    assert prev["interactions"]["by_channel"] == {"portal": 1}

    # Every other format carries the same numbers.
    md = await (await office.get("/api/v1/reports/2020?format=md", headers=office.auth)).text()
    assert "| 门户网站 | 104 |" in md and "| 12345热线 | 4 |" in md
    assert "一、本年新收政府信息公开申请数量 | 2 | 0 | 0 | 0 | 0 | 0 | 2 |" in md
    assert "不通过" not in md
    csv_text = (await (await office.get("/api/v1/reports/2020?format=csv", headers=office.auth)).read()).decode("utf-8-sig")
    assert "政府互动平台,34" in csv_text
    # Personal data never reaches an export.
    for blob in (md, csv_text, json.dumps(report, ensure_ascii=False)):
        assert "13800001234" not in blob and "360102198001011234" not in blob and "王某" not in blob
