"""The staff JSON API over real HTTP: manual entry, lists, edits, replies."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from storage.models import AuditEntry, Case, Correction, Message, OutboxItem


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


LETTER = {
    "channel": "letter",
    "received_at": "2020-03-15 09:21",
    "text": "我单位申请公开2019年人防工程竣工验收备案表",
    "contact": {"name": "李四", "phone": "13800001234", "applicant_type": "natural_person"},
}


async def test_needs_a_token(server):
    assert (await server.get("/api/v1/cases")).status == 401
    resp = await server.get("/api/v1/cases", headers=auth("gi_not-a-token"))
    assert resp.status == 401 and (await resp.json())["error"]["code"] == "unauthorized"


async def test_manual_entry_and_read_back(server, api_token):
    resp = await server.post("/api/v1/cases", json=LETTER, headers=auth(api_token))
    assert resp.status == 201
    case = await resp.json()
    assert case["number"].startswith("XH20200315-") and case["channel"] == "letter"
    assert case["kind"] == "disclosure_request" and case["deadline"].startswith("2020-04-")
    # A time without offset is in the office's time zone.
    assert case["received_at"] == "2020-03-15T09:21:00+08:00"
    assert case["contact"]["phone"] == "138****1234"
    got = await (await server.get(f"/api/v1/cases/{case['id']}", headers=auth(api_token))).json()
    assert got["text"] == LETTER["text"] and got["classification"]["matched"]
    assert got["contact"]["phone"] == "138****1234"
    unmasked = await (await server.get(f"/api/v1/cases/{case['id']}?unmask=1", headers=auth(api_token))).json()
    assert unmasked["contact"]["phone"] == "13800001234"


async def test_deadline_counts_legal_working_days(server, api_token):
    # Received Friday 2020-09-25; 3 working days for a consultation. The
    # National Day holiday makes Sunday 09-27 a working day: 09-27, 09-28, 09-29.
    body = {**LETTER, "channel": "portal", "received_at": "2020-09-25T10:00:00+08:00",
            "text": "请问人防车位可以出售吗", "kind": "consultation"}
    case = await (await server.post("/api/v1/cases", json=body, headers=auth(api_token))).json()
    assert case["deadline"] == "2020-09-29T23:59:59+08:00"


async def test_external_id_is_one_case(server, api_token):
    body = {**LETTER, "channel": "platform", "external_id": "PT-2020-0001"}
    first = await server.post("/api/v1/cases", json=body, headers=auth(api_token))
    second = await server.post("/api/v1/cases", json=body, headers=auth(api_token))
    assert first.status == 201 and second.status == 200
    assert (await first.json())["id"] == (await second.json())["id"]
    total = (await (await server.get("/api/v1/cases", headers=auth(api_token))).json())["total"]
    assert total == 1


@pytest.mark.parametrize("patch,field", [
    ({"channel": "fax"}, "channel"),
    ({"received_at": "2020-13-45"}, "received_at"),
    ({"received_at": None}, "received_at"),
    ({"text": "  "}, "text"),
    ({"text": None}, "text"),
    ({"kind": "rant"}, "kind"),
    ({"contact": {"applicant_type": "alien"}}, "contact.applicant_type"),
    ({"received_at": "2999-01-01T00:00:00+08:00"}, "received_at"),
])
async def test_bad_entries_name_the_field_and_store_nothing(server, api_token, patch, field):
    resp = await server.post("/api/v1/cases", json={**LETTER, **patch}, headers=auth(api_token))
    assert resp.status == 400
    assert (await resp.json())["error"]["field"] == field
    async with server.runtime.db.session() as s:
        assert (await s.execute(select(func.count()).select_from(Case))).scalar_one() == 0


async def test_invalid_json(server, api_token):
    for raw in (b"{not json", b'{"channel": "website", "text": "\\udfff\xe5\x92\xa8"}'):  # a lone surrogate
        resp = await server.post("/api/v1/cases", data=raw, headers=auth(api_token))
        assert resp.status == 400 and (await resp.json())["error"]["code"] == "invalid_json"
    async with server.runtime.db.session() as s:
        assert (await s.execute(select(func.count()).select_from(Case))).scalar_one() == 0


async def test_list_filters_total_limit_and_cursor(server, api_token):
    texts = ["请问人防车位可以买卖吗", "举报某小区把人防车位卖给业主", "建议多组织防空演练",
             "请问防空警报几点试鸣", "投诉人防工程漏水没人修"]
    for i, text in enumerate(texts):
        body = {**LETTER, "channel": "portal" if i % 2 else "letter", "text": text,
                "received_at": f"202{1 if i < 3 else 2}-05-0{i + 1}T10:00:00+08:00"}
        assert (await server.post("/api/v1/cases", json=body, headers=auth(api_token))).status == 201
    h = auth(api_token)
    page = await (await server.get("/api/v1/cases?limit=2", headers=h)).json()
    assert page["total"] == 5 and len(page["items"]) == 2 and page["next"]
    seen = [c["id"] for c in page["items"]]
    while page["next"]:
        page = await (await server.get(f"/api/v1/cases?limit=2&cursor={page['next']}", headers=h)).json()
        seen += [c["id"] for c in page["items"]]
    assert len(seen) == len(set(seen)) == 5
    assert (await (await server.get("/api/v1/cases?year=2021", headers=h)).json())["total"] == 3
    assert (await (await server.get("/api/v1/cases?channel=portal", headers=h)).json())["total"] == 2
    found = await (await server.get("/api/v1/cases?q=防空警报", headers=h)).json()
    assert [c["text"] for c in found["items"]] == ["请问防空警报几点试鸣"]
    assert (await server.get("/api/v1/cases?limit=501", headers=h)).status == 400
    assert (await (await server.get("/api/v1/cases?kind=nope", headers=h)).json())["error"]["field"] == "kind"


async def test_patch_reclassify_assign_and_stale_version(server, api_token):
    h = auth(api_token)
    case = await (await server.post("/api/v1/cases", json={**LETTER, "text": "你好"}, headers=h)).json()
    resp = await server.patch(f"/api/v1/cases/{case['id']}",
                              json={"kind": "complaint", "topic": "shelter", "assignee": "zhangsan", "version": case["version"]},
                              headers=h)
    assert resp.status == 200
    updated = await resp.json()
    assert (updated["kind"], updated["topic"], updated["assignee"], updated["status"]) == ("complaint", "shelter", "zhangsan", "assigned")
    stale = await server.patch(f"/api/v1/cases/{case['id']}", json={"status": "closed", "version": case["version"]}, headers=h)
    assert stale.status == 409
    bad = await server.patch(f"/api/v1/cases/{case['id']}", json={"status": "done"}, headers=h)
    assert bad.status == 400 and (await bad.json())["error"]["field"] == "status"
    async with server.runtime.db.session() as s:
        corr = (await s.execute(select(Correction))).scalar_one()
        assert (corr.kind, corr.previous_kind) == ("complaint", "other")
        actions = (await s.execute(select(AuditEntry.action).where(AuditEntry.case_id == case["id"]))).scalars().all()
        assert "case.updated" in actions and "case.created" in actions


async def test_reply_through_the_case_channel(server, api_token):
    h = auth(api_token)
    letter = await (await server.post("/api/v1/cases", json=LETTER, headers=h)).json()
    resp = await server.post(f"/api/v1/cases/{letter['id']}/replies", json={"text": "已邮寄答复书", "delivered_by": "挂号信"}, headers=h)
    assert resp.status == 201 and (await resp.json())["status"] == "sent"
    assert (await (await server.get(f"/api/v1/cases/{letter['id']}", headers=h)).json())["status"] == "answered"
    assert (await server.post(f"/api/v1/cases/{letter['id']}/replies", json={"text": ""}, headers=h)).status == 400
    async with server.runtime.db.session() as s:
        assert (await s.execute(select(func.count()).select_from(OutboxItem))).scalar_one() == 0
        assert (await s.execute(select(Message.text).where(Message.direction == "out"))).scalar_one() == "已邮寄答复书"


async def test_audit_log_is_append_only(server, api_token):
    from sqlalchemy import delete, update
    from sqlalchemy.exc import DBAPIError

    await server.post("/api/v1/cases", json=LETTER, headers=auth(api_token))
    for stmt in (update(AuditEntry).values(action="x"), delete(AuditEntry)):
        with pytest.raises(DBAPIError):
            async with server.runtime.db.engine.begin() as conn:
                await conn.execute(stmt)


async def test_health_and_metrics(server):
    assert (await (await server.get("/healthz")).json()) == {"status": "ok"}
    text = await (await server.get("/metrics")).text()
    assert 'intake_http_requests_total{route="/healthz",status="200"}' in text
    assert 'intake_http_request_seconds_count{route="/healthz"}' in text


def test_request_stats_read_as_prometheus_clients_own():
    """The lock-free request stats give /metrics what a labelled Counter and
    Histogram of prometheus_client fed the same requests would give."""
    from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

    from bot.metrics import RequestStats

    ours, theirs = CollectorRegistry(), CollectorRegistry()
    stats = RequestStats()
    ours.register(stats)
    count = Counter("intake_http_requests", "HTTP requests by route and status", ["route", "status"], registry=theirs)
    latency = Histogram("intake_http_request_seconds", "HTTP request latency by route", ["route"],
                        registry=theirs, buckets=RequestStats.BUCKETS)
    seen = [("/wechat", "200", 0.0004), ("/wechat", "200", 0.001), ("/wechat", "403", 0.0025),
            ("/inbox", "200", 0.3), ("/inbox", "500", 7.0), ("/wechat", "200", 0.0), ("/inbox", "200", 5)]
    for route, status, seconds in seen:
        stats.observe(route, status, seconds)
        count.labels(route, status).inc()
        latency.labels(route).observe(seconds)

    def samples(registry):  # without the _created timestamps only prometheus_client's own keep
        return sorted(line for line in generate_latest(registry).decode().splitlines()
                      if line and not line.startswith("#") and "_created" not in line)

    assert samples(ours) == samples(theirs)


async def test_numbers_in_the_text_are_masked_unless_asked_for(server, api_token):
    h = auth(api_token)
    body = {**LETTER, "text": "我的电话13812345678，身份证360102198001011234，申请公开备案表"}
    case = await (await server.post("/api/v1/cases", json=body, headers=h)).json()
    assert "13812345678" not in case["text"] and "138****5678" in case["text"]
    listed = (await (await server.get("/api/v1/cases", headers=h)).json())["items"][0]
    got = await (await server.get(f"/api/v1/cases/{case['id']}", headers=h)).json()
    for text in (listed["text"], got["text"], got["messages"][0]["text"]):
        assert "13812345678" not in text and "360102198001011234" not in text
    full = await (await server.get(f"/api/v1/cases/{case['id']}?unmask=1", headers=h)).json()
    assert "13812345678" in full["text"] and "360102198001011234" in full["messages"][0]["text"]
    async with server.runtime.db.session() as s:
        assert (await s.execute(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "contact.unmasked"))).scalar_one() == 1


async def test_a_refused_request_does_not_even_touch_the_token(server, api_token):
    from storage.models import ApiToken

    assert (await server.get("/api/v1/cases?limit=0", headers=auth(api_token))).status == 400
    async with server.runtime.db.session() as s:
        assert (await s.execute(select(ApiToken.last_used_at))).scalar_one() is None
    assert (await server.get("/api/v1/cases", headers=auth(api_token))).status == 200
    async with server.runtime.db.session() as s:
        assert (await s.execute(select(ApiToken.last_used_at))).scalar_one() is not None
