"""The citizen's progress look-up over real HTTP (/track), on SQLite and
PostgreSQL: a letter entered by staff gets a 查询码 once; number + code
show the status, received date, deadline and the replies, and nothing of
the staff's side; an unknown number and a wrong code are the same 404; the
21st look-up in a minute is refused; a new code stops the old one; the
rating form is CSRF-protected, once per answer, within its window."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from html import unescape

from sqlalchemy import func, select, update
from yarl import URL

from bot.domain.actors import Actor
from bot.services import cases
from storage.models import AuditEntry, Case, CaseRating, RequestCount
from tests.conftest import make_settings, make_token, serve
from tests.inbox_staff import add_user, csrf_of, login, page

PHONE = "13912345678"
ID_NUMBER = "110101199003071234"
TEXT = f"小区人防工程漏水，物业不修，我要投诉。电话{PHONE}，身份证{ID_NUMBER}"


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def today_at(server) -> str:
    # A minute ago, not a fixed hour: 09:00 today is in the future before 09:00 (and the API refuses that).
    now = datetime.now(server.runtime.settings.tz) - timedelta(minutes=1)
    return now.replace(microsecond=0).isoformat()


async def enter_letter(server, token, channel="letter", **extra) -> dict:
    body = {"channel": channel, "received_at": today_at(server), "text": TEXT,
            "contact": {"name": "王秀英", "phone": PHONE}, **extra}
    resp = await server.post("/api/v1/cases", json=body, headers=auth(token))
    assert resp.status in (200, 201), await resp.text()
    return await resp.json()


async def reply(server, token, case_id, text, reply_type):
    resp = await server.post(f"/api/v1/cases/{case_id}/replies", headers=auth(token),
                             json={"text": text, "type": reply_type, "delivered_by": "邮寄"})
    assert resp.status == 201, await resp.text()


async def look_up(server, number, code, **headers):
    resp = await server.get("/track", params={"number": number, "code": code}, headers=headers)
    return resp.status, await resp.text()


def rating_token(html: str) -> str:
    form = html[html.index('action="/track/rating"'):]
    return csrf_of(form)


async def count(server, model, *where) -> int:
    async with server.runtime.db.session() as s:
        return (await s.execute(select(func.count()).select_from(model).where(*where))).scalar_one()


async def test_a_letter_gets_a_code_and_the_page_shows_progress_and_nothing_private(server):
    token = await make_token(server.runtime, "liminghua", display_name="李明华")
    case = await enter_letter(server, token)
    code = case["tracking_code"]
    assert re.fullmatch(r"[2-9A-HJKMNP-Z]{8}", code)
    assert case["number"].startswith("XH")
    async with server.runtime.db.session() as s:
        stored = (await s.get(Case, case["id"])).tracking_code_hash
    assert stored and code not in stored  # only the keyed hash is kept
    # The staff's side: an assignee, an internal note.
    resp = await server.patch(f"/api/v1/cases/{case['id']}", json={"assignee": "liminghua"}, headers=auth(token))
    assert resp.status == 200
    await cases.add_note(server.runtime, Actor("user:liminghua"), case["id"], "内部备注：请联系街道办王主任核实")

    status, html = await look_up(server, case["number"], code)
    assert status == 200
    assert case["number"] in html and "已分派" in html
    received = datetime.fromisoformat(case["received_at"]).date().isoformat()
    deadline = datetime.fromisoformat(case["deadline"]).date().isoformat()
    assert received in html and deadline in html and f"{case['deadline_days']} 个工作日" in html
    assert "暂无答复" in html

    await reply(server, token, case["id"], f"已转物业核实，如有疑问请拨打{PHONE}。", "interim")
    await reply(server, token, case["id"], "请补充漏水位置的照片。", "request_info")
    status, html = await look_up(server, case["number"], code.lower())  # as typed: case does not matter
    assert status == 200
    replies = html[html.index("答复记录"):]
    assert replies.index("进展告知") < replies.index("已转物业核实") < replies.index("请群众补充材料")
    assert "待群众补充" in html and "暂停计时" in html
    for private in (PHONE, ID_NUMBER, "王秀英", "李明华", "liminghua", "内部备注", "王主任", "物业不修", "小区人防工程漏水"):
        assert private not in html, private
    assert "139****5678" in html  # a number staff wrote in a reply is masked too


async def test_unknown_number_wrong_code_and_odd_input_answer_one_404(server):
    token = await make_token(server.runtime)
    case = await enter_letter(server, token)
    other = await enter_letter(server, token, channel="in_person")
    assert other["number"].startswith("LF") and other["tracking_code"]
    wrong_code = await look_up(server, case["number"], "ABCDEFGH")
    someone_elses_code = await look_up(server, case["number"], other["tracking_code"])
    unknown = await look_up(server, "XH20000101-0001", case["tracking_code"])
    odd = [await look_up(server, number, code) for number, code in (
        ("XH20261125-0001\x00", "ABC\x00DEF"), ("<script>alert(1)</script>", "' OR 1=1 --"), ("X" * 2000, "Y" * 2000),
        ("粤B12345", "查询码"))]
    # Bytes that are not UTF-8 at all, as a raw query string.
    resp = await server.get(URL(f"/track?number={case['number']}&code=%ED%A0%80%FF%00", encoded=True))
    odd.append((resp.status, await resp.text()))
    assert wrong_code[0] == someone_elses_code[0] == unknown[0] == 404
    assert wrong_code[1] == someone_elses_code[1] == unknown[1]
    assert [o[0] for o in odd] == [404] * len(odd) and all(o == unknown for o in odd)
    assert "没有找到" in unknown[1] and "<script>" not in unknown[1]

    resp = await server.get("/track")
    assert resp.status == 200 and 'name="number"' in await resp.text() and 'name="code"' in await resp.text()
    resp = await server.get("/track", params={"number": case["number"]})
    assert resp.status == 400 and "请填写受理编号和查询码" in await resp.text()

    # A case on a channel with its own identity has no code: nothing opens it.
    phone_case = await enter_letter(server, token, channel="phone")
    assert phone_case["tracking_code"] is None
    assert await look_up(server, phone_case["number"], "23456789") == unknown


async def test_the_21st_look_up_in_a_minute_from_one_address_is_refused(db_url, tmp_path, classifier):
    # Behind a proxy: the address is the one the proxy appended, not what the client sent first.
    async with serve(make_settings(db_url, tmp_path, trust_proxy=True), classifier) as server:
        token = await make_token(server.runtime)
        case = await enter_letter(server, token)
        me = {"X-Forwarded-For": "203.0.113.9"}
        statuses = []
        for i in range(20):
            code = case["tracking_code"] if i % 2 else f"WRONG{i:03d}"
            statuses.append((await look_up(server, case["number"], code, **me))[0])
        assert statuses == [404, 200] * 10  # wrong codes count too
        status, html = await look_up(server, case["number"], case["tracking_code"], **me)
        assert status == 429 and "查询过于频繁" in html and case["number"] not in html
        # Changing the first entry of X-Forwarded-For does not dodge it.
        spoofed = {"X-Forwarded-For": "198.51.100.1, 203.0.113.9"}
        assert (await look_up(server, case["number"], case["tracking_code"], **spoofed))[0] == 429
        other = {"X-Forwarded-For": "203.0.113.10"}
        assert (await look_up(server, case["number"], case["tracking_code"], **other))[0] == 200
        assert await count(server, RequestCount, RequestCount.key == "track:203.0.113.9") == 1


async def test_staff_issue_a_new_code_and_the_old_one_stops_working(server):
    token = await make_token(server.runtime, "zhangsan")
    case = await enter_letter(server, token)
    first = case["tracking_code"]
    resp = await server.post(f"/api/v1/cases/{case['id']}/tracking-code", headers=auth(token))
    assert resp.status == 201
    second = (await resp.json())["tracking_code"]
    assert second != first and len(second) >= 6
    assert (await look_up(server, case["number"], first))[0] == 404
    assert (await look_up(server, case["number"], second))[0] == 200

    # From the case page in the inbox: shown once, on the page answering the form.
    await add_user(server.runtime, "lisi")
    assert (await login(server, "lisi")).status == 303
    html = await page(server, f"/inbox/cases/{case['id']}")
    resp = await server.post(f"/inbox/cases/{case['id']}/tracking-code", data={"csrf_token": csrf_of(html)},
                             allow_redirects=False)
    assert resp.status == 200
    third = unescape(re.search(r'class="code">([^<]+)<', await resp.text()).group(1))
    assert (await look_up(server, case["number"], second))[0] == 404
    assert (await look_up(server, case["number"], third))[0] == 200
    again = await page(server, f"/inbox/cases/{case['id']}")
    assert third not in again and "已发放" in again and "发放了新的查询码（旧查询码作废）" in again  # the audit line
    # Without the CSRF token: refused, the code unchanged.
    resp = await server.post(f"/inbox/cases/{case['id']}/tracking-code", data={}, allow_redirects=False)
    assert resp.status == 403
    assert (await look_up(server, case["number"], third))[0] == 200
    async with server.runtime.db.session() as s:
        issued = (await s.execute(select(AuditEntry).where(AuditEntry.action == "case.tracking_code_issued"))).scalars().all()
    assert [a.actor for a in issued] == ["token:tests", "user:lisi"]
    assert all(code not in str(a.detail) for a in issued for code in (first, second, third))
    # An unknown case: 404, over the API as on the page.
    resp = await server.post("/api/v1/cases/999999/tracking-code", headers=auth(token))
    assert resp.status == 404


async def test_a_duplicate_entry_gets_no_second_code(server):
    token = await make_token(server.runtime)
    first = await enter_letter(server, token, external_id="XF-2026-001")
    again = await enter_letter(server, token, external_id="XF-2026-001")
    assert again["duplicate"] is True and again["tracking_code"] is None and again["id"] == first["id"]
    assert (await look_up(server, first["number"], first["tracking_code"]))[0] == 200


async def rate(server, html, score, **overrides):
    number = re.search(r'name="number" value="([^"]+)"', html).group(1)
    code = unescape(re.search(r'name="code" value="([^"]+)"', html).group(1))
    data = {"csrf_token": rating_token(html), "number": number, "code": code, "score": str(score), **overrides}
    return await server.post("/track/rating", data={k: v for k, v in data.items() if v is not None},
                             allow_redirects=False)


async def test_the_citizen_rates_the_answer_once_and_a_low_rating_re_opens_it(server):
    token = await make_token(server.runtime)
    case = await enter_letter(server, token)
    number, code = case["number"], case["tracking_code"]
    _, html = await look_up(server, number, code)
    assert 'action="/track/rating"' not in html  # not answered yet: nothing to rate
    await reply(server, token, case["id"], "已督促物业维修，现已修复。", "final")
    _, html = await look_up(server, number, code)
    assert "已答复" in html and "正式答复" in html and 'action="/track/rating"' in html

    # Refused, nothing stored: no token, a forged token, a score out of range, a wrong code.
    assert (await rate(server, html, 4, csrf_token=None)).status == 403
    assert (await rate(server, html, 4, csrf_token="forged")).status == 403
    for bad in ("0", "6", "abc", "", "4.5", "９"):
        resp = await rate(server, html, bad)
        assert resp.status == 400 and "请选择 1 到 5 分" in await resp.text(), bad
    resp = await rate(server, html, 4, code="ZZZZZZZZ")
    assert resp.status == 404 and "没有找到" in await resp.text()
    assert await count(server, CaseRating) == 0

    resp = await rate(server, html, 2)
    assert resp.status == 303 and resp.headers["Location"].startswith("/track?")
    resp = await server.get(resp.headers["Location"])
    html2 = await resp.text()
    assert "重新交办" in html2 and "办理中" in html2 and 'action="/track/rating"' not in html2
    async with server.runtime.db.session() as s:
        row = (await s.execute(select(CaseRating))).scalar_one()
        assert (row.score, row.source, row.round) == (2, "citizen", 0)
        assert (await s.get(Case, case["id"])).reopened == 1
    # The same form again (the old page): refused, the case is being handled again.
    resp = await rate(server, html, 5)
    assert resp.status == 409 and "不能评价" in await resp.text()

    await reply(server, token, case["id"], "已更换防水层，经复查无渗漏。", "final")
    _, html = await look_up(server, number, code)
    resp = await rate(server, html, 5)
    assert resp.status == 303
    _, after = await look_up(server, number, code)
    assert "您已对本次答复作出评价" in after and 'action="/track/rating"' not in after
    resp = await rate(server, html, 1)  # twice for the same answer
    assert resp.status == 409 and "只能评价一次" in await resp.text()
    assert await count(server, CaseRating) == 2
    async with server.runtime.db.session() as s:
        got = await s.get(Case, case["id"])
        assert (got.status, got.rating, got.ratings_given, got.ratings_satisfied) == ("answered", 5, 2, 1)


async def test_no_rating_after_the_window(server):
    token = await make_token(server.runtime)
    case = await enter_letter(server, token)
    await reply(server, token, case["id"], "已答复。", "final")
    _, html = await look_up(server, case["number"], case["tracking_code"])
    async with server.runtime.db.session() as s:
        await s.execute(update(Case).where(Case.id == case["id"]).values(
            answered_at=datetime.now(timezone.utc) - timedelta(days=8)))
        await s.commit()
    _, late = await look_up(server, case["number"], case["tracking_code"])
    assert "已答复" in late and 'action="/track/rating"' not in late
    resp = await rate(server, html, 5)
    assert resp.status == 409 and "7 日内" in await resp.text()
    assert await count(server, CaseRating) == 0
