"""A case page's 办理记录 read in a real browser as staff read it: Chinese
sentences with display names and office-local times; no JSON, no
``token:``, no UTC offset. An admin opens the raw entry with one click."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from tests.conftest import make_token
from tests.handlers.test_inbox_cases import new_case
from tests.inbox_staff import PASSWORD, add_user

TZ = ZoneInfo("Asia/Shanghai")
OFFSET = re.compile(r"[+-]\d\d:\d\d|\bUTC\b|Z\b|T\d\d:\d\d")
CJK = re.compile(r"[\u4e00-\u9fff]")


async def sign_in(browser, server, username: str):
    page = await browser.new_page(locale="zh-CN")
    await page.goto(str(server.make_url("/login")))
    await page.fill("input[name=username]", username)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(re.compile(r"/inbox$"))
    return page


async def test_staff_read_the_audit_trail_as_sentences(server, browser):
    rt = server.runtime
    await add_user(rt, "liming", display_name="李明")
    await add_user(rt, "zhaoliu", display_name="赵六")
    await add_user(rt, "boss", role="admin", display_name="王主任")
    token = await make_token(rt, "wangwu", display_name="王五", role="admin")
    case = await new_case(rt, "地下室人防工程漏水，请尽快处理", kind="help")

    page = await sign_in(browser, server, "liming")
    await page.goto(str(server.make_url(f"/inbox/cases/{case.id}")))
    await page.select_option("form.edit select[name=assignee]", "zhaoliu")
    await page.select_option("form.edit select[name=status]", "in_progress")
    await page.click("form.edit button[type=submit]")
    await page.wait_for_selector(".alert.ok")
    resp = await server.post(f"/api/v1/cases/{case.id}/urge", json={"level": "督办", "note": "请本周内办结"},
                             headers={"Authorization": f"Bearer {token}"})
    assert resp.status in (200, 201), await resp.text()
    await page.reload()

    items = [t.strip() for t in await page.locator("ol.audit > li").all_inner_texts()]
    assert len(items) >= 3
    trail = "\n".join(items)
    assert "李明 将案件分派给 赵六；状态：新收 → 办理中" in trail
    assert "王五（接口） 对案件督办：“请本周内办结”" in trail
    for item in items:
        sentence = item[17:]
        assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d ", item), item  # office-local, to the minute
        assert CJK.search(sentence), item
        assert not OFFSET.search(item), item
        for raw in ("{", "}", '"', "token:", "user:", "channel:", "null", "_id", "in_progress"):
            assert raw not in item, (raw, item)
    # The time is the office's: the assignment was just now in Asia/Shanghai.
    now = datetime.now(timezone.utc).astimezone(TZ)
    assert any(i.startswith(now.strftime("%Y-%m-%d %H:")) or i.startswith(
        (now - timedelta(minutes=2)).strftime("%Y-%m-%d %H:")) for i in items if "分派给" in i)
    assert await page.locator("ol.audit details").count() == 0  # not for staff

    admin = await sign_in(browser, server, "boss")
    await admin.goto(str(server.make_url(f"/inbox/cases/{case.id}")))
    raw = admin.locator("ol.audit details").first
    assert not await raw.locator("code").is_visible()  # folded
    await raw.locator("summary").click()
    assert "case.created" in await raw.locator("code").inner_text()
