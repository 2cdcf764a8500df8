"""The citizen's progress look-up in a real browser on a phone-sized screen:
a letter entered by staff, looked up with its number and 查询码; staff
answer it in the inbox with progress and then the answer, each appearing on
the citizen's page; the citizen rates it, once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from storage.models import CaseRating
from tests.browser.test_inbox_browser import logged_in_page
from tests.conftest import make_token
from tests.inbox_staff import add_user

PHONE = {"viewport": {"width": 375, "height": 740}, "locale": "zh-CN", "is_mobile": True, "has_touch": True}


async def staff_reply(page, text: str, reply_type: str) -> None:
    await page.fill("#reply-text", text)
    await page.check(f"form.reply input[name=type][value={reply_type}]")
    await page.select_option("form.reply select[name=delivered_by]", "邮寄")
    await page.click("form.reply button[type=submit]")
    await page.wait_for_selector(".alert.ok")


async def test_a_citizen_follows_a_letter_and_rates_the_answer(server, browser):
    rt = server.runtime
    token = await make_token(rt, "clerk")
    now = datetime.now(rt.settings.tz).replace(microsecond=0).isoformat()
    resp = await server.post("/api/v1/cases", headers={"Authorization": f"Bearer {token}"}, json={
        "channel": "letter", "received_at": now, "text": "小区地下人防工程漏水，物业一直不修，我要投诉",
        "contact": {"name": "赵先生", "phone": "13700001234"}})
    case = await resp.json()
    number, code = case["number"], case["tracking_code"]

    context = await browser.new_context(**PHONE)
    citizen = await context.new_page()
    await citizen.goto(str(server.make_url("/track")))
    await citizen.fill("#number", number)
    await citizen.fill("#code", code.lower())
    await citizen.click("form.lookup button[type=submit]")
    await citizen.wait_for_selector("dl.progress")
    assert (await citizen.inner_text("dd.status")).strip() == "新收"
    assert "暂无答复" in await citizen.inner_text("main")
    # Fits the phone's width: nothing to scroll sideways.
    assert await citizen.evaluate("document.documentElement.scrollWidth") <= 375

    await add_user(rt, "liming", display_name="李明")
    staff = await logged_in_page(browser, server)
    await staff.goto(str(server.make_url(f"/inbox/cases/{case['id']}")))
    await staff_reply(staff, "已转物业核实，三日内回复您。", "interim")
    await citizen.reload()
    assert "已转物业核实" in await citizen.inner_text("li.reply-interim")
    assert "进展告知" in await citizen.inner_text("li.reply-interim .type")
    assert await citizen.locator("form.rating").count() == 0

    await staff_reply(staff, "已督促物业维修，现已修复。", "final")
    await citizen.reload()
    assert (await citizen.inner_text("dd.status")).strip() == "已答复"
    replies = await citizen.locator("li.reply").all_inner_texts()
    assert len(replies) == 2 and "进展告知" in replies[0] and "正式答复" in replies[1] and "现已修复" in replies[1]
    assert "李明" not in await citizen.inner_text("main") and "赵先生" not in await citizen.inner_text("main")

    await citizen.check("form.rating input[name=score][value='4']")
    await citizen.click("form.rating button[type=submit]")
    await citizen.wait_for_selector(".alert.ok")
    assert "感谢您的评价" in await citizen.inner_text(".alert.ok")
    assert "您已对本次答复作出评价" in await citizen.inner_text("main")
    assert await citizen.locator("form.rating").count() == 0
    await context.close()

    async with rt.db.session() as s:
        ratings = (await s.execute(select(CaseRating))).scalars().all()
    assert [(r.score, r.source) for r in ratings] == [(4, "citizen")]
    await staff.reload()
    assert "4 分 满意" in await staff.inner_text(".facts")
