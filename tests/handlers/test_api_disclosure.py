"""Disclosure requests over the real API, on SQLite and PostgreSQL: legal
deadlines in working days (dates worked out by hand from the State
Council's holiday notices), the 补正 / third-party / extension workflow,
refusals that change nothing, protected personal data, reviews and the
answer letter."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select, text

from bot.domain import workdays
from storage.models import AuditEntry, CalendarYear, DisclosureRequest, DisclosureReview


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


async def new_case(server, token, received_at="2024-03-04T10:00:00+08:00", channel="letter",
                   text="申请公开2023年人防工程易地建设费收支情况") -> dict:
    resp = await server.post("/api/v1/cases", headers=auth(token), json={
        "channel": channel, "received_at": received_at, "text": text, "kind": "disclosure_request",
        "contact": {"name": "王某"},
    })
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def put(server, token, case_id, **body):
    return await server.put(f"/api/v1/cases/{case_id}/disclosure", headers=auth(token), json=body)


async def act(server, token, case_id, action, **body):
    return await server.post(f"/api/v1/cases/{case_id}/disclosure/{action}", headers=auth(token), json=body)


async def register(server, token, **kw) -> tuple[dict, dict]:
    case = await new_case(server, token, **kw)
    resp = await put(server, token, case["id"], applicant_type="natural_person", name="王某",
                     id_proof="360102198001011234", contact="13712345678", delivery_form="电子邮件")
    assert resp.status == 201, await resp.text()
    return case, await resp.json()


async def snapshot(server) -> tuple:
    """Everything a refused request must leave untouched."""
    async with server.runtime.db.session() as s:
        rows = (await s.execute(select(DisclosureRequest).order_by(DisclosureRequest.id))).scalars().all()
        audits = (await s.execute(select(func.count()).select_from(AuditEntry))).scalar_one()
        cases = (await s.execute(text("SELECT id, status, kind, deadline_at, version FROM cases ORDER BY id"))).all()
        return ([(r.outcome, r.decided_on, r.answer_due, r.correction_sent_on, r.extension_days, r.version)
                 for r in rows], audits, [tuple(c) for c in cases])


async def test_registration_dates_receipt_and_counts_working_days(server, api_token):
    case, body = await register(server, api_token)
    assert body["receipt_date"] == "2024-03-04" and body["receipt_basis"] == "post_signed"
    assert body["stage"] == "registered"
    assert body["correction"]["notice_due"] == "2024-03-13"  # 7 working days
    assert body["answer_due"] == "2024-04-01"  # 20 working days
    got = await (await server.get(f"/api/v1/cases/{case['id']}", headers=auth(api_token))).json()
    assert got["deadline"].startswith("2024-04-01T23:59:59") and got["kind"] == "disclosure_request"
    # Across the 2024 National Day holiday, with its make-up Sunday 29 September
    # and Saturday 12 October.
    _, body = await register(server, api_token, received_at="2024-09-27T09:00:00+08:00", channel="in_person")
    assert body["receipt_basis"] == "in_person" and body["correction"]["notice_due"] == "2024-10-12"


async def test_online_receipt_is_the_day_both_sides_confirm(server, api_token):
    case = await new_case(server, api_token, channel="portal", received_at="2024-03-02T22:00:00+08:00")
    resp = await put(server, api_token, case["id"], applicant_type="commercial", receipt_date="2024-03-04")
    body = await resp.json()
    assert resp.status == 201 and body["receipt_basis"] == "confirmed" and body["receipt_date"] == "2024-03-04"
    assert body["answer_due"] == "2024-04-01"


async def test_correction_stops_the_clock_and_restarts_it_from_the_corrected_request(server, api_token):
    case, _ = await register(server, api_token)
    cid = case["id"]
    resp = await act(server, api_token, cid, "correction-notice", sent_on="2024-03-06", text="请写明所需信息的文号")
    body = await resp.json()
    assert resp.status == 200, body
    assert body["answer_due"] is None and body["case_status"] == "waiting" and body["stage"] == "reviewing"
    # Once only (一次性告知).
    again = await act(server, api_token, cid, "correction-notice", sent_on="2024-03-07", text="再补一次")
    assert again.status == 400 and (await again.json())["error"]["code"] == "already_sent"
    resp = await act(server, api_token, cid, "corrected", received_on="2024-03-20")
    body = await resp.json()
    # 20 working days from 20 March, over Qingming (4–5 April off, Sunday 7 April worked).
    assert body["answer_due"] == "2024-04-18" and body["case_status"] == "in_progress"
    resp = await act(server, api_token, cid, "extension", approved_by="公开办主任 李某", notice_on="2024-04-15")
    body = await resp.json()
    assert resp.status == 200 and body["answer_due"] == "2024-05-17" and body["extension"]["approved_by"] == "公开办主任 李某"
    twice = await act(server, api_token, cid, "extension", approved_by="李某", notice_on="2024-04-16")
    assert twice.status == 400 and (await twice.json())["error"]["code"] == "already_extended"


async def test_a_correction_notice_after_seven_working_days_is_refused(server, api_token):
    case, _ = await register(server, api_token)
    before = await snapshot(server)
    resp = await act(server, api_token, case["id"], "correction-notice", sent_on="2024-03-14", text="请补正")
    err = (await resp.json())["error"]
    assert resp.status == 400 and err["code"] == "too_late" and "2024-03-13" in err["message"]
    assert await snapshot(server) == before


async def test_third_party_time_is_not_counted(server, api_token):
    case, _ = await register(server, api_token)
    body = await (await act(server, api_token, case["id"], "third-party", sent_on="2024-03-11")).json()
    # Until the third party answers, its full 15 working days are assumed.
    assert body["answer_due"] == "2024-04-23"
    body = await (await act(server, api_token, case["id"], "third-party-answer", answered_on="2024-03-15")).json()
    # 11–15 March: 4 working days paused, so 20 + 4 from 4 March.
    assert body["answer_due"] == "2024-04-08"


async def test_abandoned_correction_closes_as_table3_six_one(server, api_token):
    case, _ = await register(server, api_token)
    cid = case["id"]
    await act(server, api_token, cid, "correction-notice", sent_on="2024-03-05", text="请提供身份证明", reply_days=10)
    early = await act(server, api_token, cid, "abandoned", today="2024-03-19")
    assert early.status == 400 and (await early.json())["error"]["code"] == "not_yet"
    resp = await act(server, api_token, cid, "abandoned", today="2024-03-25")
    body = await resp.json()
    assert resp.status == 200 and body["outcome"] == "r6_1" and body["case_status"] == "answered"
    report = await (await server.get("/api/v1/reports/2024", headers=auth(api_token))).json()
    assert report["table3"]["rows"]["r6_1"]["natural_person"] == 1
    assert all(c["ok"] for c in report["checks"])
    trial = await (await server.get("/api/v1/reports/2024?template=2019", headers=auth(api_token))).json()
    assert trial["table3"]["rows"]["r6"]["total"] == 1 and "r6_1" not in trial["table3"]["rows"]


@pytest.mark.parametrize("body, field, code", [
    ({"outcome": "r8", "decided_at": "2024-03-20"}, "outcome", "invalid"),
    ({"outcome": "r1", "decided_at": "2024-03-01"}, "decided_at", "before_receipt"),
    ({"outcome": "r1"}, "decided_at", "missing"),
    ({"applicant_type": "alien"}, "applicant_type", "invalid"),
])
async def test_bad_decisions_are_refused_and_change_nothing(server, api_token, body, field, code):
    case, _ = await register(server, api_token)
    before = await snapshot(server)
    resp = await put(server, api_token, case["id"], **body)
    err = (await resp.json())["error"]
    assert resp.status == 400 and err["field"] == field and err["code"] == code, err
    assert await snapshot(server) == before


async def test_a_bad_outcome_on_registration_writes_no_request(server, api_token):
    case = await new_case(server, api_token)
    before = await snapshot(server)
    resp = await put(server, api_token, case["id"], applicant_type="natural_person", outcome="r9", decided_at="2024-03-05")
    assert resp.status == 400 and (await resp.json())["error"]["field"] == "outcome"
    assert await snapshot(server) == before


async def test_correction_after_the_answer_is_refused(server, api_token):
    case, _ = await register(server, api_token)
    ok = await put(server, api_token, case["id"], outcome="r1", decided_at="2024-03-06")
    assert ok.status == 200 and (await ok.json())["case_status"] == "answered"
    before = await snapshot(server)
    resp = await act(server, api_token, case["id"], "correction-notice", sent_on="2024-03-07", text="请补正")
    assert resp.status == 400 and (await resp.json())["error"]["code"] == "already_answered"
    assert await snapshot(server) == before


async def test_a_year_the_calendar_does_not_know_is_a_clear_error(server, api_token, monkeypatch):
    # As if the installed chinesecalendar stopped at 2025 (a new year comes
    # before the package that knows its holidays): dated, not today-dependent.
    monkeypatch.setattr(workdays, "PACKAGE_YEARS", frozenset(y for y in workdays.PACKAGE_YEARS if y <= 2025))
    await server.runtime.calendar.refresh(force=True)
    case = await new_case(server, api_token, received_at="2025-11-03T10:00:00+08:00")
    before = await snapshot(server)
    # Confirmed in December 2025: 20 working days reach into 2026, which
    # the office has not entered.
    resp = await put(server, api_token, case["id"], applicant_type="natural_person", receipt_date="2025-12-10")
    err = (await resp.json())["error"]
    assert resp.status == 400 and err["code"] == "unknown_calendar_year" and "2026" in err["message"]
    assert await snapshot(server) == before
    report = await server.get("/api/v1/reports/2026", headers=auth(api_token))
    assert report.status == 400 and "2026" in (await report.json())["error"]["message"]
    # Once the office enters 2026 (plain Monday–Friday here), it works.
    async with server.runtime.db.session() as s:
        s.add(CalendarYear(year=2026, entered_by="admin"))
        await s.commit()
    await server.runtime.calendar.refresh(force=True)
    resp = await put(server, api_token, case["id"], applicant_type="natural_person", receipt_date="2025-12-10")
    assert resp.status == 201 and (await resp.json())["answer_due"].startswith("2026-01")


async def test_personal_data_is_protected_masked_and_unmasking_is_audited(server, api_token):
    case, body = await register(server, api_token)
    assert body["id_proof"] == "360102********1234" and body["contact"] == "137****5678"
    async with server.runtime.db.session() as s:
        raw = (await s.execute(text("SELECT id_proof_protected, contact_protected FROM disclosure_requests"))).one()
    assert "360102198001011234" not in raw[0] and "13712345678" not in raw[1]
    full = await (await server.get(f"/api/v1/cases/{case['id']}/disclosure?unmask=1", headers=auth(api_token))).json()
    assert full["id_proof"] == "360102198001011234" and full["contact"] == "13712345678"
    async with server.runtime.db.session() as s:
        actions = (await s.execute(select(AuditEntry.action).where(AuditEntry.case_id == case["id"]))).scalars().all()
    assert "disclosure.unmasked" in actions


async def test_requests_carry_over_the_year_end(server, api_token):
    case, _ = await register(server, api_token, received_at="2023-12-20T10:00:00+08:00")
    r2023 = await (await server.get("/api/v1/reports/2023", headers=auth(api_token))).json()
    assert r2023["table3"]["rows"]["new"]["total"] == 1 and r2023["table3"]["rows"]["carried_out"]["total"] == 1
    await put(server, api_token, case["id"], outcome="r2", decided_at="2024-01-10")
    r2024 = await (await server.get("/api/v1/reports/2024", headers=auth(api_token))).json()
    rows = r2024["table3"]["rows"]
    assert rows["new"]["total"] == 0 and rows["carried_in"]["natural_person"] == 1
    assert rows["r2"]["total"] == 1 and rows["r7"]["total"] == 1 and rows["carried_out"]["total"] == 0
    assert all(c["ok"] for c in r2024["checks"])
    r2023 = await (await server.get("/api/v1/reports/2023", headers=auth(api_token))).json()
    assert r2023["table3"]["rows"]["carried_out"]["total"] == 1  # still open on 31 December 2023


async def test_an_empty_year_gives_an_empty_valid_report(server, api_token):
    resp = await server.get("/api/v1/reports/2015", headers=auth(api_token))
    report = await resp.json()
    assert resp.status == 200 and report["template"] == "2019"
    assert report["interactions"]["total"] == 0 and report["interactions"]["by_channel"] == {}
    assert all(row["total"] == 0 for row in report["table3"]["rows"].values())
    assert report["checks"] and all(c["ok"] for c in report["checks"])
    bad = await server.get("/api/v1/reports/abc", headers=auth(api_token))
    assert bad.status == 400 and (await bad.json())["error"]["field"] == "year"
    fmt = await server.get("/api/v1/reports/2015?format=pdf", headers=auth(api_token))
    assert fmt.status == 400 and (await fmt.json())["error"]["field"] == "format"
    assert (await server.get("/api/v1/reports/2015")).status == 401


async def test_reviews_fill_table_four(server, api_token):
    case, _ = await register(server, api_token)
    await put(server, api_token, case["id"], outcome="r3_6", decided_at="2024-03-20")
    h = auth(api_token)
    for body in (
        {"case_id": case["id"], "kind": "reconsideration", "filed_on": "2024-04-10", "result": "upheld",
         "concluded_on": "2024-06-01"},
        {"case_id": case["id"], "kind": "litigation", "after_reconsideration": True, "filed_on": "2024-06-20"},
        # Concluded only next year: still 尚未审结 in the 2024 table.
        {"case_id": case["id"], "kind": "litigation_direct", "filed_on": "2024-05-01", "result": "corrected",
         "concluded_on": "2025-02-01"},
    ):
        resp = await server.post("/api/v1/reviews", headers=h, json=body)
        assert resp.status == 201, await resp.text()
    for bad, field in (({"case_id": case["id"], "kind": "appeal", "filed_on": "2024-05-01"}, "kind"),
                       ({"case_id": case["id"], "kind": "reconsideration", "filed_on": "2024-05-01", "result": "upheld"}, "concluded_on"),
                       ({"case_id": 999999, "kind": "reconsideration", "filed_on": "2024-05-01"}, "case_id")):
        resp = await server.post("/api/v1/reviews", headers=h, json=bad)
        assert resp.status == 400 and (await resp.json())["error"]["field"] == field
    async with server.runtime.db.session() as s:
        assert (await s.execute(select(func.count()).select_from(DisclosureReview))).scalar_one() == 3
    t4 = (await (await server.get("/api/v1/reports/2024", headers=h)).json())["table4"]
    assert t4["reconsideration"] == {"upheld": 1, "corrected": 0, "other": 0, "pending": 0, "total": 1}
    assert t4["litigation_after"]["pending"] == 1 and t4["litigation_direct"]["pending"] == 1
    # The court decides the suit filed after reconsideration within the year.
    items = (await (await server.get("/api/v1/reviews?year=2024", headers=h)).json())["items"]
    after = next(i for i in items if i["kind"] == "litigation_after")
    bad = await server.patch(f"/api/v1/reviews/{after['id']}", headers=h, json={"result": "corrected"})
    assert bad.status == 400 and (await bad.json())["error"]["field"] == "concluded_on"
    ok = await server.patch(f"/api/v1/reviews/{after['id']}", headers=h,
                            json={"result": "corrected", "concluded_on": "2024-11-30"})
    assert ok.status == 200
    t4 = (await (await server.get("/api/v1/reports/2024", headers=h)).json())["table4"]
    assert t4["litigation_after"] == {"upheld": 0, "corrected": 1, "other": 0, "pending": 0, "total": 1}


async def test_answer_letter_cites_the_article_and_fills_the_facts(server, api_token):
    from docx import Document

    case, _ = await register(server, api_token)
    not_yet = await server.get(f"/api/v1/cases/{case['id']}/disclosure/answer-letter.docx", headers=auth(api_token))
    assert not_yet.status == 400
    await put(server, api_token, case["id"], outcome="r4_1", decided_at="2024-03-15")
    resp = await server.get(f"/api/v1/cases/{case['id']}/disclosure/answer-letter.docx", headers=auth(api_token))
    assert resp.status == 200 and "wordprocessingml" in resp.headers["Content-Type"]
    doc = Document(io.BytesIO(await resp.read()))
    text = "\n".join(p.text for p in doc.paragraphs)
    assert "政府信息公开申请答复书" in text and "王某" in text and case["number"] in text
    assert "第三十六条第（四）项" in text and "2024年3月4日" in text and "2024年3月15日" in text
    assert "360102198001011234" not in text


async def test_stage_moves_forward_only_and_archives_answered_requests(server, api_token):
    case, _ = await register(server, api_token)
    cid = case["id"]
    assert (await act(server, api_token, cid, "stage", stage="archived")).status == 400  # not answered yet
    assert (await (await act(server, api_token, cid, "stage", stage="processing")).json())["stage"] == "processing"
    back = await act(server, api_token, cid, "stage", stage="reviewing")
    assert back.status == 400
    await put(server, api_token, cid, outcome="r1", decided_at="2024-03-10")
    body = await (await act(server, api_token, cid, "stage", stage="archived")).json()
    assert body["stage"] == "archived" and body["case_status"] == "closed"
    assert (await put(server, api_token, cid, outcome="r2", decided_at="2024-03-11")).status == 400
