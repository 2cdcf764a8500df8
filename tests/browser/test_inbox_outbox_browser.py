"""The outbox page in a real browser (Debian chromium via Playwright): a
12345 result the platform refused is shown with its error and sent again
with one click."""

from __future__ import annotations

import re

from tests.inbox_staff import add_user
from tests.browser.test_inbox_browser import logged_in_page
from tests.outbound.test_outbox import ORDER, _has_failed, app, eventually, new_order, platform, reply  # noqa: F401


async def test_a_refused_result_is_seen_and_sent_again(app, platform, browser):  # noqa: F811
    platform.fail_next = [400]
    case_id = await new_order(app)
    await reply(app, case_id, "已电话联系您（13800001234），问题已处理")
    await eventually(lambda: _has_failed(app))
    await add_user(app.runtime, "liming", display_name="李明")
    page = await logged_in_page(browser, app)
    await page.click("nav a:text-is('外发队列')")
    await page.wait_for_url(re.compile(r"/inbox/outbox$"))
    await page.click("a:has-text('发送失败')")
    await page.wait_for_url(re.compile(r"status=failed"))
    row = page.locator("tr.outbox-failed")
    assert await row.count() == 1
    text = await row.inner_text()
    assert ORDER["order_id"] in text and "HTTP 400" in text and "12345平台" in text
    await row.locator("button:text-is('重新发送')").click()
    await page.wait_for_selector("text=已重新排入发送队列")
    (result,) = await platform.wait_for(1)
    assert result["reply"] == "已电话联系您（13800001234），问题已处理"
