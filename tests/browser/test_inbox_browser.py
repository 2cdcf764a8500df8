"""The inbox in a real browser: Debian's chromium driven by Playwright,
against the real application on a loopback port."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import func, select

from storage.models import CaseNote, Correction
from tests.inbox_staff import PASSWORD, add_user
from tests.handlers.test_inbox_cases import new_case





async def logged_in_page(browser, server):
    page = await browser.new_page(locale="zh-CN")
    alerts: list[str] = []
    page.on("dialog", lambda d: (alerts.append(d.message), d.dismiss()))
    page.alerts = alerts
    await page.goto(str(server.make_url("/inbox")))
    assert "/login" in page.url  # not signed in yet
    await page.fill("input[name=username]", "liming")
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(re.compile(r"/inbox$"))
    return page


async def test_find_reclassify_reply_and_leave_the_new_view(server, browser):
    s = server.runtime
    await add_user(s, "liming", display_name="李明")
    target = await new_case(s, "你好，请问我们小区的人防车位可以卖给业主吗？", phone="13800000001")
    other = await new_case(s, "防空警报几点试鸣", phone="13800000002")
    page = await logged_in_page(browser, server)
    assert await page.locator(f"text={target.number}").count() == 1

    await page.fill("input[name=q]", "车位")
    await page.click("form.filters button[type=submit]")
    await page.wait_for_url(re.compile(r"q="))
    assert await page.locator(f"a:text-is('{target.number}')").count() == 1
    assert await page.locator(f"a:text-is('{other.number}')").count() == 0

    await page.click(f"a:text-is('{target.number}')")
    await page.wait_for_url(re.compile(rf"/inbox/cases/{target.id}$"))
    assert "138****0001" in await page.inner_text(".facts")
    await page.select_option("form.edit select[name=kind]", "complaint")
    await page.select_option("form.edit select[name=topic]", "parking")
    await page.click("form.edit button[type=submit]")
    await page.wait_for_selector(".alert.ok")
    assert "投诉" in await page.inner_text(".facts dl")

    # A canned reply fills the box; the staff member edits it and sends it.
    await page.select_option("select.canned", label="人防车位产权")
    text = await page.input_value("#reply-text")
    assert "人防车位" in text
    # It is an answer, so the final-answer type is chosen with it.
    assert await page.is_checked("form.reply input[name=type][value=final]")
    await page.fill("#reply-text", text + "（李明）")
    await page.select_option("form.reply select[name=delivered_by]", "网站回复")
    await page.click("form.reply button[type=submit]")
    await page.wait_for_selector(".alert.ok")
    assert "已答复" in await page.inner_text("h1")
    assert "（李明）" in await page.inner_text(".thread")

    await page.goto(str(server.make_url("/inbox?view=new")))
    assert await page.locator(f"a:text-is('{target.number}')").count() == 0
    assert await page.locator(f"a:text-is('{other.number}')").count() == 1
    async with s.db.session() as session:
        assert (await session.execute(select(Correction.kind).where(Correction.case_id == target.id))).scalar_one() == "complaint"
    assert page.alerts == []


async def test_script_in_a_case_renders_as_text(server, browser):
    await add_user(server.runtime, "liming")
    case = await new_case(server.runtime, "<script>alert(1)</script>")
    page = await logged_in_page(browser, server)
    assert "<script>alert(1)</script>" in await page.inner_text("table.cases")
    await page.goto(str(server.make_url(f"/inbox/cases/{case.id}")))
    assert "<script>alert(1)</script>" in await page.inner_text(".thread")
    assert page.alerts == []  # nothing ran


async def test_form_posted_without_its_csrf_token_is_refused(server, browser):
    await add_user(server.runtime, "liming")
    case = await new_case(server.runtime, "人防工程漏水")
    page = await logged_in_page(browser, server)
    await page.goto(str(server.make_url(f"/inbox/cases/{case.id}")))
    await page.evaluate("document.querySelector('form.note input[name=csrf_token]').remove()")
    await page.fill("form.note textarea[name=text]", "这条备注不应保存")
    async with page.expect_response(lambda r: r.url.endswith("/note")) as info:
        await page.click("form.note button[type=submit]")
    response = await info.value
    assert response.status == 403
    assert "请求被拒绝" in await page.inner_text("body")
    async with server.runtime.db.session() as session:
        assert (await session.execute(select(func.count()).select_from(CaseNote))).scalar_one() == 0


async def test_dashboard_chart_downloads_as_png(server, browser):
    s = server.runtime
    await add_user(s, "liming")
    for i, channel in enumerate(("portal", "portal", "platform")):
        await new_case(s, f"咨询人防工程第{i}件", channel=channel, phone=f"1380000000{i}")
    page = await logged_in_page(browser, server)
    await page.click("header nav a:text-is('统计图表')")
    await page.wait_for_selector("figure#chart-channels svg")
    async with page.expect_download() as info:
        await page.click("figure#chart-channels a.png")
    download = await info.value
    assert download.suggested_filename.endswith(".png")
    path = await download.path()
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000  # a real, non-empty image
    assert page.alerts == []
