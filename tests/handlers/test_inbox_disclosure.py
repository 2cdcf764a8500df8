"""The disclosure staff pages over real HTTP (SQLite and PostgreSQL): login
required, CSRF enforced, forms doing the same work as the API, the report
page and its downloads."""

from __future__ import annotations

import io
import re

from openpyxl import load_workbook
from sqlalchemy import func, select

from storage.models import DisclosureRequest
from tests.inbox_staff import add_user, login, page, submit


async def staff_case(server, text="申请公开2023年人防工程易地建设费收支情况") -> int:
    await add_user(server.runtime, "gongkai", display_name="公开办")
    assert (await login(server, "gongkai")).status == 303
    from tests.handlers.test_api_disclosure import new_case  # same API entry as a clerk would make

    from bot.domain.security import new_token, token_hash
    from storage.models import ApiToken, User

    async with server.runtime.db.session() as s:
        user = (await s.execute(select(User).where(User.username == "gongkai"))).scalar_one()
        token = new_token()
        s.add(ApiToken(user_id=user.id, name="pages", token_hash=token_hash(token)))
        await s.commit()
    case = await new_case(server, token, text=text)
    return case["id"]


async def requests_count(server) -> int:
    async with server.runtime.db.session() as s:
        return (await s.execute(select(func.count()).select_from(DisclosureRequest))).scalar_one()


async def test_pages_need_a_login(server):
    for path in ("/inbox/reports", "/inbox/disclosure", "/inbox/reports/2024.xlsx"):
        resp = await server.get(path, allow_redirects=False)
        assert resp.status in (302, 303) and "/login" in resp.headers["Location"]


async def test_register_decide_and_download_through_the_forms(server):
    cid = await staff_case(server)
    path = f"/inbox/cases/{cid}/disclosure"
    html = await page(server, path)
    assert "登记为政府信息公开申请" in html
    listing = await page(server, "/inbox/disclosure")
    assert "尚未登记" in listing and f'href="{path}"' in listing
    # Without the CSRF token: refused, nothing written.
    resp = await server.post(path, data={"applicant_type": "natural_person"}, allow_redirects=False)
    assert resp.status in (400, 403) and await requests_count(server) == 0
    resp = await submit(server, path, path, {"applicant_type": "natural_person", "name": "王某",
                                             "id_proof": "360102198001011234", "contact": "13712345678",
                                             "receipt_date": "2024-03-04"})
    assert resp.status == 303, await resp.text()
    html = await page(server, path)
    assert "360102********1234" in html and "137****5678" in html and "360102198001011234" not in html
    assert "2024-04-01" in html  # 20 working days
    # A decision before receipt: the page says why, nothing changes.
    resp = await submit(server, path, path, {"applicant_type": "natural_person", "outcome": "r1", "decided_at": "2024-03-01"})
    assert resp.status == 400 and "早于收到申请日期" in await resp.text()
    async with server.runtime.db.session() as s:
        assert (await s.execute(select(DisclosureRequest.outcome))).scalar_one() is None
    resp = await submit(server, path, f"{path}/extension", {"approved_by": "李主任", "notice_on": "2024-03-20"})
    assert resp.status == 303
    assert "2024-04-29" in await page(server, path)  # +20 more, over Qingming and the 28 April make-up Sunday
    resp = await submit(server, path, path, {"applicant_type": "natural_person", "outcome": "r4_1", "decided_at": "2024-03-25"})
    assert resp.status == 303
    letter = await server.get(f"{path}/answer-letter.docx")
    assert letter.status == 200 and "wordprocessingml" in letter.headers["Content-Type"]
    listing = await page(server, "/inbox/disclosure")
    assert "本机关不掌握相关政府信息" in listing


async def test_report_page_shows_the_tally_and_offers_every_format(server):
    cid = await staff_case(server)
    path = f"/inbox/cases/{cid}/disclosure"
    await submit(server, path, path, {"applicant_type": "commercial", "receipt_date": "2024-03-04",
                                      "outcome": "r1", "decided_at": "2024-03-10"})
    html = await page(server, "/inbox/reports?year=2024")
    assert "全部通过" in html and "年度报表" in html
    for fmt in ("xlsx", "docx", "csv", "md", "json"):
        assert f'href="/inbox/reports/2024.{fmt}?template=2021"' in html
    assert re.search(r"<td>（一）予以公开</td><td>0</td><td>1</td>", html)
    xlsx = await server.get("/inbox/reports/2024.xlsx?template=2021")
    wb = load_workbook(io.BytesIO(await xlsx.read()))
    assert wb["表三"]["E3"].value == "法人或其他组织"
    bad = await server.get("/inbox/reports?year=2031")
    assert bad.status == 400 and "2031" in await bad.text()


async def test_report_checks_and_rows_are_read_by_their_chinese_names(server):
    from bot.domain.report import COLUMNS, REVIEW_KINDS, table3_rows

    cid = await staff_case(server)
    path = f"/inbox/cases/{cid}/disclosure"
    await submit(server, path, path, {"applicant_type": "natural_person", "receipt_date": "2024-03-04",
                                      "outcome": "r3_1", "decided_at": "2024-03-10"})
    keys = set(COLUMNS) | set(REVIEW_KINDS) | {r["key"] for t in ("2019", "2021") for r in table3_rows(t)}
    for template in ("2019", "2021"):
        csv_text = (await (await server.get(f"/inbox/reports/2024.csv?template={template}")).read()).decode("utf-8-sig")
        md = await (await server.get(f"/inbox/reports/2024.md?template={template}")).text()
        checks = [ln for ln in csv_text.splitlines() if "=" in ln.split(",")[0] or "通过" in ln]
        assert len(checks) > 20
        assert any("［自然人］" in ln for ln in checks) and any("［三（七）总计］" in ln for ln in checks)
        assert any("［行政复议］" in ln for ln in checks)
        for text in (csv_text, md):
            for ln in text.splitlines():
                if "通过" in ln:  # a check line: rule, where, result
                    assert not re.search(r"[［\[](%s)[］\]]" % "|".join(map(re.escape, keys)), ln), ln
                    assert not re.search(r"\b(natural_person|r\d_\d|carried_in|carried_out|reconsideration)\b", ln), ln
    # The request lists and pages name the applicant type in Chinese.
    assert "自然人" in await page(server, "/inbox/disclosure")
