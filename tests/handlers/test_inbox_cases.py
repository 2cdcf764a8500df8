"""The inbox over real HTTP on SQLite and PostgreSQL: views, search, the case
page and every staff action, with what a staff member would check."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest_asyncio
from sqlalchemy import func, select, update

from bot.domain.actors import Actor
from bot.domain.cases import InboundMessage
from bot.services import cases, lifecycle
from bot.services.intake import record
from storage.models import AuditEntry, Case, CaseNote, Correction, Message
from tests.inbox_staff import add_user, login, page, submit, version_of

TZ = ZoneInfo("Asia/Shanghai")


async def new_case(services, text: str, *, channel: str = "portal", at: datetime | None = None,
                   phone: str | None = "13800001234", identity: str | None = None, kind: str | None = None) -> Case:
    at = at or datetime.now(timezone.utc) - timedelta(minutes=5)
    item = InboundMessage(channel=channel, identity=identity or phone or f"anon:{text[:8]}", received_at=at, text=text,
                          classification=services.classifier.classify(text, hint_kind=kind),
                          contact_name="张先生", contact_phone=phone, thread=channel == "wechat")
    (result,) = await record(services, [item])
    async with services.db.session() as session:
        return await session.get(Case, result.case_id)


@pytest_asyncio.fixture
async def staff(server):
    await add_user(server.runtime, "liming", display_name="李明")
    assert (await login(server, "liming")).status == 303
    return server


def numbers_in(html: str) -> list[str]:
    return re.findall(r">([A-Z]{2}\d{8}-\d{4})</a>", html)


async def test_default_view_lists_open_cases_of_every_year_with_counters(staff):
    s = staff.runtime
    old = await new_case(s, "请问人防车位可以出售吗", at=datetime(2019, 6, 3, 2, tzinfo=timezone.utc))
    fresh = await new_case(s, "小区地下室人防工程漏水严重，请尽快处理", channel="letter")
    done = await new_case(s, "防空警报几点试鸣")
    async with s.db.session() as session:
        await session.execute(update(Case).where(Case.id == done.id).values(status="closed"))
        await session.commit()
    html = await page(staff, "/inbox")
    assert set(numbers_in(html)) == {old.number, fresh.number}
    assert re.search(r'data-view="open">2<', html) and re.search(r'data-view="new">2<', html)
    # The 2019 case is long overdue; the count and the view say so.
    assert re.search(r'data-view="overdue">1<', html)
    assert numbers_in(await page(staff, "/inbox?view=overdue")) == [old.number]
    assert numbers_in(await page(staff, "/inbox?view=closed")) == [done.number]
    assert numbers_in(await page(staff, "/inbox?view=open&channel=letter")) == [fresh.number]
    assert numbers_in(await page(staff, "/inbox?view=all&status=closed")) == [done.number]
    assert (await staff.get("/inbox?status=bogus")).status == 400
    # Newest first by default; most urgent (earliest deadline) first on request.
    assert numbers_in(await page(staff, "/inbox?view=open"))[0] == fresh.number
    assert numbers_in(await page(staff, "/inbox?view=open&sort=urgent"))[0] == old.number
    bad = await staff.get("/inbox?view=nonsense")
    assert bad.status == 400


async def test_the_supervision_view_shows_urged_and_soon_due_cases_with_their_marks(staff):
    s = staff.runtime
    actor = Actor("user:liming", role="staff")
    overdue = await new_case(s, "请问人防车位可以出售吗", at=datetime(2019, 6, 3, 2, tzinfo=timezone.utc))
    urged = await new_case(s, "小区地下室人防工程漏水严重，请尽快处理", channel="letter")
    answered = await new_case(s, "人防工程出入口被堵", channel="letter", phone="13800009999")
    calm = await new_case(s, "防空警报几点试鸣", channel="letter", phone="13800008888")
    await lifecycle.urge(s, actor, urged.id, "催办", "市长热线转来")
    await cases.reply(s, actor, answered.id, "已清理出入口。", delivered_by="电话告知")
    await lifecycle.urge(s, actor, answered.id, "督办", "领导批示")
    html = await page(staff, "/inbox")
    assert re.search(r'data-view="urged">3<', html)  # on every page, whatever view is open
    listed = await page(staff, "/inbox?view=urged")
    assert set(numbers_in(listed)) == {overdue.number, urged.number, answered.number}
    assert calm.number not in listed
    assert re.search(rf"{urged.number}</a>.*?催办</span>", listed, re.S)
    assert re.search(rf"{answered.number}</a>.*?督办</span>", listed, re.S)
    # Answering meets the urging: the case leaves the view.
    await cases.reply(s, actor, urged.id, "已维修。", delivered_by="电话告知")
    assert urged.number not in await page(staff, "/inbox?view=urged")


async def test_search_finds_chinese_words_the_same_on_both_databases(staff):
    s = staff.runtime
    parking = await new_case(s, "请问人防车位可以出售吗？")
    siren = await new_case(s, "防空警报几点试鸣")
    leak = await new_case(s, "小区人防工程漏水")
    got = lambda q: page(staff, f"/inbox?view=all&q={q}")  # noqa: E731
    assert numbers_in(await got("车位")) == [parking.number]
    assert numbers_in(await got("警报")) == [siren.number]
    assert numbers_in(await got("防空警报")) == [siren.number]
    assert set(numbers_in(await got("人防"))) == {parking.number, leak.number}
    assert numbers_in(await got("人防 漏水")) == [leak.number]
    assert numbers_in(await got("电梯")) == []
    assert numbers_in(await got(siren.number)) == [siren.number]
    # FTS syntax in a query is text, not an operator.
    assert (await staff.get('/inbox?view=all&q="人防" OR NEAR(')).status == 200


async def test_pagination_walks_every_case_once(staff):
    s = staff.runtime
    made = [await new_case(s, f"第{i}件：咨询人防工程", phone=f"1380000{i:04d}") for i in range(55)]
    first = await page(staff, "/inbox?view=all")
    seen = numbers_in(first)
    assert len(seen) == 50
    nxt = re.search(r'href="\?([^"]+)" rel="next"', first).group(1).replace("&amp;", "&")
    seen += numbers_in(await page(staff, f"/inbox?{nxt}"))
    assert sorted(seen) == sorted(c.number for c in made)


async def test_citizen_text_is_escaped_everywhere(staff):
    case = await new_case(staff.runtime, "<script>alert(1)</script><img src=x onerror=alert(2)>")
    for html in (await page(staff, "/inbox"), await page(staff, f"/inbox/cases/{case.id}")):
        assert "<script>alert(1)</script>" not in html and "<img src=x" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


async def test_case_page_shows_thread_classification_deadline_and_masked_phone(staff):
    received = datetime(2026, 11, 23, 9, 0, tzinfo=TZ)  # Monday
    case = await new_case(staff.runtime, "请问人防车位可以出售吗？我的电话13912345678", at=received,
                          kind="consultation")
    html = await page(staff, f"/inbox/cases/{case.id}")
    assert case.number in html and "人防车位可以出售吗" in html
    assert "138****1234" in html and "13800001234" not in html
    assert "139****5678" in html and "13912345678" not in html  # numbers inside the text too
    for word in case.matched:
        assert f'<mark class="matched">{word}</mark>' in html
    assert "2026-11-26" in html  # 3 working days after Monday
    unmasked = await page(staff, f"/inbox/cases/{case.id}?unmask=1")
    assert "13800001234" in unmasked
    async with staff.runtime.db.session() as session:
        actions = (await session.execute(select(AuditEntry.action).where(AuditEntry.case_id == case.id))).scalars().all()
    assert "contact.unmasked" in actions


async def test_reclassify_assign_and_leave_the_new_view(staff):
    case = await new_case(staff.runtime, "你好")
    path = f"/inbox/cases/{case.id}"
    html = await page(staff, path)
    resp = await submit(staff, path, f"{path}/update", {
        "version": version_of(html), "kind": "complaint", "topic": "shelter", "status": case.status,
        "assignee": "liming"})
    assert resp.status == 303
    html = await page(staff, resp.headers["Location"])
    assert "已保存" in html and "已分派" in html
    assert case.number not in await page(staff, "/inbox?view=new")
    assert case.number in await page(staff, "/inbox?view=mine")
    async with staff.runtime.db.session() as session:
        corr = (await session.execute(select(Correction).where(Correction.case_id == case.id))).scalar_one()
    assert (corr.previous_kind, corr.kind, corr.topic) == ("other", "complaint", "shelter")
    # A complaint has 15 working days, not the 7 of "other": the deadline follows the kind.
    async with staff.runtime.db.session() as session:
        fresh = await session.get(Case, case.id)
    cal, received = staff.runtime.calendar.current, case.received_at.astimezone(TZ).date()
    assert (case.deadline_days, fresh.deadline_days) == (7, 15)
    assert fresh.deadline_at.astimezone(TZ).date() == cal.add_working_days(received, 15)


async def test_stale_form_is_told_not_overwritten(staff):
    case = await new_case(staff.runtime, "你好")
    path = f"/inbox/cases/{case.id}"
    stale_version = version_of(await page(staff, path))
    # Someone else changes the case meanwhile.
    first = await submit(staff, path, f"{path}/update", {"version": stale_version, "kind": "help", "topic": "general",
                                                          "status": "in_progress"})
    assert first.status == 303
    html = await page(staff, path)
    resp = await staff.post(f"{path}/update", data={"csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', html).group(1),
                                                    "version": stale_version, "kind": "praise", "topic": "general",
                                                    "status": "closed"})
    assert resp.status == 409 and "已被他人修改" in await resp.text()
    # Stale and invalid at once: told it is stale (the refresh is what helps).
    resp = await staff.post(f"{path}/update", data={"csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', html).group(1),
                                                    "version": stale_version, "kind": "rant", "topic": "general",
                                                    "status": "in_progress"})
    assert resp.status == 409 and "已被他人修改" in await resp.text()
    async with staff.runtime.db.session() as session:
        fresh = await session.get(Case, case.id)
    assert (fresh.kind, fresh.status) == ("help", "in_progress")
    # A reply typed against a stale page is kept in the box, not lost.
    reply = await staff.post(f"{path}/reply", data={"csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', html).group(1),
                                                    "version": stale_version, "text": "我的答复草稿", "delivered_by": "邮寄",
                                                    "type": "final"})
    assert reply.status == 409 and "我的答复草稿</textarea>" in await reply.text()


async def test_letter_answer_records_how_it_was_delivered(staff):
    case = await new_case(staff.runtime, "我单位申请公开2019年人防工程竣工验收备案表", channel="letter")
    path = f"/inbox/cases/{case.id}"
    html = await page(staff, path)
    missing = await submit(staff, path, f"{path}/reply", {"version": version_of(html), "text": "已邮寄答复书",
                                                           "type": "final"})
    assert missing.status == 400 and "送达方式" in await missing.text()
    # What the reply is must be chosen: a final answer settles the case.
    untyped = await submit(staff, path, f"{path}/reply", {"version": version_of(html), "text": "已邮寄答复书",
                                                           "delivered_by": "邮寄"})
    assert untyped.status == 400 and "请选择答复类型" in await untyped.text()
    assert "已邮寄答复书</textarea>" in await untyped.text()  # the draft is kept
    resp = await submit(staff, path, f"{path}/reply", {"version": version_of(html), "text": "已邮寄答复书",
                                                        "delivered_by": "邮寄", "type": "final"})
    assert resp.status == 303
    html = await page(staff, path)
    assert "已邮寄答复书" in html and "已答复" in html
    async with staff.runtime.db.session() as session:
        audit = (await session.execute(select(AuditEntry).where(AuditEntry.case_id == case.id,
                                                                AuditEntry.action == "case.replied"))).scalar_one()
    assert audit.detail["via"] == "邮寄" and audit.actor == "user:liming"


async def test_notes_are_internal_and_audited(staff):
    case = await new_case(staff.runtime, "人防工程漏水", channel="wechat", identity="oOpenId1", phone=None)
    path = f"/inbox/cases/{case.id}"
    assert (await submit(staff, path, f"{path}/note", {"text": "   "})).status == 400
    assert (await submit(staff, path, f"{path}/note", {"text": "已电话联系物业"})).status == 303
    assert "已电话联系物业" in await page(staff, path)
    async with staff.runtime.db.session() as session:
        assert (await session.execute(select(func.count()).select_from(CaseNote))).scalar_one() == 1
        outgoing = (await session.execute(select(func.count()).select_from(Message).where(
            Message.case_id == case.id, Message.author_id.is_not(None)))).scalar_one()
    assert outgoing == 0  # nothing went to the citizen


async def test_merge_a_duplicate_into_another_case(staff):
    s = staff.runtime
    original = await new_case(s, "小区人防工程漏水", phone="13800000001")
    duplicate = await new_case(s, "小区人防工程漏水（重复来信）", phone="13800000002")
    path = f"/inbox/cases/{duplicate.id}"
    version = version_of(await page(staff, path))
    bad = await submit(staff, path, f"{path}/merge", {"version": version, "target": "WZ20000101-9999"})
    assert bad.status == 400 and "没有受理编号" in await bad.text()
    itself = await submit(staff, path, f"{path}/merge", {"version": version, "target": duplicate.number})
    assert itself.status == 400
    resp = await submit(staff, path, f"{path}/merge", {"version": version, "target": original.number})
    assert resp.status == 303
    assert "已并入" in await page(staff, path)
    assert duplicate.number in await page(staff, f"/inbox/cases/{original.id}")
    listed = numbers_in(await page(staff, "/inbox?view=all"))
    assert duplicate.number not in listed and original.number in listed
    async with s.db.session() as session:
        actions = set((await session.execute(select(AuditEntry.action).where(
            AuditEntry.case_id.in_([original.id, duplicate.id])))).scalars())
    assert {"case.merged", "case.merged_in"} <= actions


async def test_waiting_for_the_citizen_pauses_the_deadline(staff):
    s = staff.runtime
    case = await new_case(s, "人防工程漏水，请处理", at=datetime(2026, 11, 2, 9, tzinfo=TZ), kind="complaint")
    path = f"/inbox/cases/{case.id}"
    html = await page(staff, path)
    resp = await submit(staff, path, f"{path}/update", {"version": version_of(html), "kind": case.kind,
                                                         "topic": case.topic, "status": "waiting"})
    assert resp.status == 303
    assert "期限暂停" in await page(staff, path)
    assert case.number not in await page(staff, "/inbox?view=overdue")
    # Pretend the office waited from Monday 2026-11-16 (5 working days to Monday 11-23 … at least).
    since = datetime(2026, 11, 16, 10, tzinfo=TZ)
    async with s.db.session() as session:
        await session.execute(update(Case).where(Case.id == case.id).values(waiting_since=since))
        await session.commit()
        before = (await session.get(Case, case.id)).deadline_at
    html = await page(staff, path)
    resp = await submit(staff, path, f"{path}/update", {"version": version_of(html), "kind": case.kind,
                                                         "topic": case.topic, "status": "in_progress"})
    assert resp.status == 303
    today = datetime.now(timezone.utc).astimezone(TZ).date()
    waited = s.calendar.current.working_days_between(since.date(), today)
    expected_day = s.calendar.current.add_working_days(before.astimezone(TZ).date(), waited)
    async with s.db.session() as session:
        after = await session.get(Case, case.id)
    assert after.waiting_since is None and after.paused_days == waited
    assert after.deadline_at.astimezone(TZ).date() == expected_day > before.astimezone(TZ).date()


async def test_unknown_calendar_year_is_an_error_the_admin_sees_and_fixes(staff):
    s = staff.runtime
    # 15 working days from late December 2026 reach into 2027, which
    # chinesecalendar 1.11 does not know.
    case = await new_case(s, "举报某小区擅自占用人防工程", at=datetime(2026, 12, 28, 10, tzinfo=TZ), kind="report")
    assert case.deadline_at is None and "2027" in case.deadline_error
    html = await page(staff, f"/inbox/cases/{case.id}")
    assert "无法计算期限" in html and "2027" in html
    await add_user(s, "boss", role="admin")
    await submit(staff, "/inbox", "/logout", {})
    await login(staff, "boss")
    assert "无法计算办理期限" in await page(staff, "/inbox")
    bad = await submit(staff, "/inbox/admin/calendar", "/inbox/admin/calendar",
                       {"year": "2027", "holidays": "2027-13-01", "workdays": ""})
    assert bad.status == 400 and "无法识别" in await bad.text()
    resp = await submit(staff, "/inbox/admin/calendar", "/inbox/admin/calendar", {
        "year": "2027", "holidays": "2027-01-01\n2027-02-05..2027-02-13", "workdays": "2027-02-14"})
    assert resp.status == 200 and "1 个案件" in await resp.text()
    async with s.db.session() as session:
        fixed = await session.get(Case, case.id)
    assert fixed.deadline_error is None
    # Working days from Monday 2026-12-28: 29, 30, 31, (1 Jan holiday) 4, 5, 6, 7, 8, 11 … the 15th is 2027-01-19.
    assert fixed.deadline_at.astimezone(TZ).date().isoformat() == "2027-01-19"


async def test_canned_replies_are_edited_by_admins_and_offered_on_the_case(staff):
    s = staff.runtime
    case = await new_case(s, "请问人防车位可以出售吗", channel="letter")
    denied = await submit(staff, "/inbox/canned", "/inbox/canned", {"title": "x", "text": "y"})
    assert denied.status == 403
    await add_user(s, "boss", role="admin")
    await submit(staff, "/inbox", "/logout", {})
    await login(staff, "boss")
    untyped = await submit(staff, "/inbox/canned", "/inbox/canned", {"title": "车位<答复>", "text": "人防车位不得出售产权。"})
    assert untyped.status == 400 and "请选择答复类型" in await untyped.text()
    resp = await submit(staff, "/inbox/canned", "/inbox/canned", {"title": "车位<答复>", "text": "人防车位不得出售产权。",
                                                                   "reply_type": "final"})
    assert resp.status == 303
    html = await page(staff, f"/inbox/cases/{case.id}")
    assert "车位&lt;答复&gt;" in html and "人防车位不得出售产权。" in html
    # Each canned reply says what it is: the seeded 请补充材料 asks for more.
    assert re.search(r'<option value="人防车位不得出售产权。" data-type="final">', html)
    assert re.search(r'data-type="request_info">请补充材料<', html)
    assert re.search(r'data-type="interim">已收到·核实中<', html)


async def test_dashboard_counts_and_downloadable_charts(staff):
    s = staff.runtime
    year = datetime.now(timezone.utc).astimezone(TZ).year
    for i, channel in enumerate(["portal", "portal", "platform", "hotline"]):
        await new_case(s, f"咨询人防工程第{i}件", channel=channel, phone=f"1380000000{i}")
    await new_case(s, "去年的留言", at=datetime(year - 1, 5, 1, 10, tzinfo=TZ))
    html = await page(staff, "/inbox/dashboard")
    assert re.search(r'id="fig-total">4<', html)
    assert re.search(r'id="fig-open">5<', html)
    assert html.count("<svg") == 3
    resp = await staff.get(f"/inbox/dashboard/charts/channels.svg?year={year}")
    assert resp.status == 200 and resp.content_type == "image/svg+xml"
    assert "attachment" in resp.headers["Content-Disposition"]
    svg = await resp.text()
    import xml.etree.ElementTree as ET

    root = ET.fromstring(svg.encode())
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "门户网站" in texts and "政府互动平台" in texts and "2" in texts
    last_year = await page(staff, f"/inbox/dashboard?year={year - 1}")
    assert re.search(r'id="fig-total">1<', last_year)
    assert (await staff.get("/inbox/dashboard/charts/nope.svg")).status == 404


async def test_hotline_answer_goes_back_through_the_12345_outbox_after_the_signing_for(staff):
    from storage.models import OutboxItem

    s = staff.runtime
    item = InboundMessage(channel="hotline", identity="13800001234", received_at=datetime.now(timezone.utc),
                          text="来电人咨询人防车位产权问题", classification=s.classifier.classify("咨询人防车位产权问题"),
                          external_id="12345-20261125-000001", contact_phone="13800001234")
    (result,) = await record(s, [item])  # an order not signed for on receipt
    path = f"/inbox/cases/{result.case_id}"
    html = await page(staff, path)
    assert "12345平台回传" in html and 'name="delivered_by"' not in html  # no delivery choice: the machine delivers
    assert "未签收" in html and f'action="{path}/accept"' in html
    # Nothing goes to the platform about an order before its 签收: a clear refusal, nothing queued.
    refused = await submit(staff, path, f"{path}/reply", {"version": version_of(html), "text": "人防车位不得出售产权。",
                                                           "type": "final"})
    assert refused.status == 409 and "签收" in await refused.text()
    assert (await submit(staff, path, f"{path}/accept", {})).status == 303
    html = await page(staff, path)
    assert "已签收" in html and f'action="{path}/accept"' not in html
    resp = await submit(staff, path, f"{path}/reply", {"version": version_of(html), "text": "人防车位不得出售产权。",
                                                        "type": "final"})
    assert resp.status == 303
    async with s.db.session() as session:
        outbox = (await session.execute(select(OutboxItem).where(OutboxItem.case_id == result.case_id)
                                        .order_by(OutboxItem.id))).scalars().all()
    assert [(o.target, o.payload["type"]) for o in outbox] == [("hotline", "accepted"), ("hotline", "result")]
    assert "人防车位不得出售产权。" in await page(staff, path)


async def test_citizen_reply_ends_the_wait_and_moves_the_deadline(staff):
    s = staff.runtime
    case = await new_case(s, "人防工程漏水，请处理", channel="wechat", identity="oWaiting1", phone=None,
                          at=datetime(2026, 11, 2, 9, tzinfo=TZ), kind="complaint")
    since = datetime(2026, 11, 16, 10, tzinfo=TZ)
    async with s.db.session() as session:
        await session.execute(update(Case).where(Case.id == case.id).values(status="waiting", waiting_since=since))
        await session.commit()
    reply_at = datetime(2026, 11, 20, 15, tzinfo=TZ)  # Friday: 17, 18, 19, 20 November waited
    joined = await new_case(s, "补充照片和地址：某小区3栋", channel="wechat", identity="oWaiting1", phone=None,
                            at=reply_at)
    assert joined.id == case.id
    async with s.db.session() as session:
        fresh = await session.get(Case, case.id)
        actions = (await session.execute(select(AuditEntry.action).where(AuditEntry.case_id == case.id))).scalars().all()
    assert (fresh.status, fresh.waiting_since, fresh.paused_days) == ("in_progress", None, 4)
    assert fresh.deadline_at.astimezone(TZ).date() == s.calendar.current.add_working_days(
        case.deadline_at.astimezone(TZ).date(), 4)
    assert "case.resumed" in actions
    assert "补充照片和地址" in await page(staff, f"/inbox/cases/{case.id}")
