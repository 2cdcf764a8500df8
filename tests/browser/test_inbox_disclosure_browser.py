"""The disclosure pages in a real browser (Debian chromium via Playwright):
a clerk registers a request and records the answer through the forms, then
the disclosure officer downloads the annual report."""

from __future__ import annotations

import io
import re

from openpyxl import load_workbook

from tests.conftest import enter_next_year
from tests.inbox_staff import PASSWORD, add_user
from tests.handlers.test_inbox_cases import new_case


async def test_register_answer_and_download_the_report(server, browser):  # noqa: F811
    s = server.runtime
    await enter_next_year(s)  # in December the 20 working days reach next year
    await add_user(s, "gongkai", display_name="公开办")
    case = await new_case(s, "申请公开2023年人防工程易地建设费收支情况", kind="disclosure_request", channel="letter")
    page = await browser.new_page(locale="zh-CN", accept_downloads=True)
    await page.goto(str(server.make_url("/inbox/disclosure")))
    await page.fill("input[name=username]", "gongkai")
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(re.compile(r"/inbox"))
    await page.goto(str(server.make_url("/inbox/disclosure")))
    assert "尚未登记" in await page.inner_text("main")
    await page.click(f"a:text-is('{case.number}')")
    await page.wait_for_url(re.compile(rf"/inbox/cases/{case.id}/disclosure$"))

    await page.select_option("select[name=applicant_type]", "natural_person")
    await page.fill("input[name=name]", "王某")
    await page.fill("input[name=id_proof]", "360102198001011234")
    await page.click("form.stack >> nth=0 >> button[type=submit]")
    await page.wait_for_selector(".alert.ok")
    facts = await page.inner_text("main dl")
    assert "360102********1234" in facts and "360102198001011234" not in facts

    received = case.received_at.astimezone(s.settings.tz).date()
    await page.select_option("select[name=outcome]", "r1")
    await page.fill("input[name=decided_at]", received.isoformat())
    await page.click("form.stack >> nth=0 >> button[type=submit]")
    await page.wait_for_selector(".alert.ok")
    assert "予以公开" in await page.inner_text("main dl")

    await page.goto(str(server.make_url(f"/inbox/reports?year={received.year}")))
    assert "全部通过" in await page.inner_text("main")
    async with page.expect_download() as info:
        await page.click(f"a[href^='/inbox/reports/{received.year}.xlsx']")
    download = await info.value
    wb = load_workbook(io.BytesIO(open(await download.path(), "rb").read()))
    t3 = wb["表三"]
    new_row = next(r for r in range(5, t3.max_row + 1) if t3.cell(r, 1).value == "一、本年新收政府信息公开申请数量")
    assert t3.cell(new_row, 4).value == 1 and t3.cell(new_row, 10).value == 1
