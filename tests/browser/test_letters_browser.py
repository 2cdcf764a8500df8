"""The web letter box in a real browser on a phone-sized screen: a citizen
writes a letter with the form (no script needed), sees the number and the
查询码, staff answer it in the inbox, and the letter appears on /letters
without the writer's personal data."""

from __future__ import annotations

import re

from sqlalchemy import select

from bot.domain.tracking import code_matches
from storage.models import Case
from tests.browser.test_inbox_browser import logged_in_page
from tests.inbox_staff import add_user

PHONE = {"viewport": {"width": 375, "height": 740}, "is_mobile": True, "has_touch": True, "locale": "zh-CN"}


async def test_write_a_letter_on_a_phone_staff_answer_it_and_it_is_published(server, browser):
    await add_user(server.runtime, "liming", display_name="李明")
    context = await browser.new_context(**PHONE, java_script_enabled=False)  # the form works without script
    phone = await context.new_page()
    await phone.goto(str(server.make_url("/letters/new")))
    # Fits the screen: nothing wider than the viewport, the honeypot out of sight.
    assert await phone.evaluate("document.documentElement.scrollWidth") <= 375
    assert not await phone.is_visible("#website") or (await phone.locator("#website").bounding_box())["x"] < 0
    await phone.fill("#name", "赵六")
    await phone.fill("#phone", "13900001111")
    await phone.fill("#title", "赵六反映地下车库警报噪音")
    await phone.fill("#content", "我是住在3栋的赵六，电话13900001111。地下车库的防空警报每天早上误响，请检查。")
    await phone.check("input[name=publish]")
    await phone.click("button[type=submit]")
    await phone.wait_for_url(re.compile(r"/letters/done$"))
    number = (await phone.inner_text("dd.number")).strip()
    code = (await phone.inner_text("dd.code")).strip()
    assert re.fullmatch(r"WZ\d{8}-\d{4}", number) and len(code) >= 6
    assert "只在此显示一次" in await phone.inner_text("main")
    async with server.runtime.db.session() as session:
        case = (await session.execute(select(Case))).scalar_one()
    assert case.number == number and case.publish_consent is True
    assert code_matches(server.runtime.settings.secret_key, code, case.tracking_code_hash)
    await phone.reload()
    assert code not in await phone.inner_text("main")  # shown once

    staff = await logged_in_page(browser, server)
    await staff.goto(str(server.make_url(f"/inbox/cases/{case.id}")))
    assert "门户网站" in await staff.inner_text(".facts") and "139****1111" in await staff.inner_text(".facts")
    await staff.fill("#reply-text", "赵六您好：经检查，警报线路受潮，已修复。")
    await staff.check("form.reply input[name=type][value=final]")
    await staff.select_option("form.reply select[name=delivered_by]", "网站回复")
    await staff.click("form.reply button[type=submit]")
    await staff.wait_for_selector(".alert.ok")
    assert "已在网上信箱公开" in await staff.inner_text(".publication-state")

    await phone.goto(str(server.make_url("/letters")))
    shown = await phone.inner_text("main")
    assert "反映地下车库警报噪音" in shown and "警报线路受潮，已修复" in shown
    assert "赵六" not in shown and "13900001111" not in shown
    assert await phone.evaluate("document.documentElement.scrollWidth") <= 375

    # Staff correct the published answer; the phone sees the edit.
    await staff.fill("form.publication textarea[name=published_answer]", "经检查，警报线路受潮，已修复。")
    await staff.click("form.publication button[type=submit]")
    await staff.wait_for_selector(".alert.ok")
    await phone.reload()
    assert "您好" not in await phone.inner_text("article.letter")
    assert staff.alerts == []
    await context.close()


async def test_a_letter_from_the_form_to_its_rating_and_publication(server, browser):
    """The whole citizen's side: write, look up with the receipt's code, see
    progress and the answer arrive, rate it, find it published."""
    await add_user(server.runtime, "liming", display_name="李明")
    context = await browser.new_context(**PHONE)
    citizen = await context.new_page()
    await citizen.goto(str(server.make_url("/letters/new")))
    await citizen.fill("#name", "钱七")
    await citizen.fill("#phone", "13600002222")
    await citizen.fill("#title", "人防工程出入口被占用")
    await citizen.fill("#content", "我叫钱七，身份证110101199003071234，小区人防工程出入口被杂物堵住，请处理。")
    await citizen.check("input[name=publish]")
    await citizen.click("button[type=submit]")
    await citizen.wait_for_url(re.compile(r"/letters/done$"))
    number = (await citizen.inner_text("dd.number")).strip()
    code = (await citizen.inner_text("dd.code")).strip()

    await citizen.goto(str(server.make_url("/track")))
    await citizen.fill("#number", number)
    await citizen.fill("#code", code)
    await citizen.click("form.lookup button[type=submit]")
    await citizen.wait_for_selector("dl.progress")
    assert "暂无答复" in await citizen.inner_text("main")
    tracked = citizen.url  # the look-up's own address, reloaded as the citizen comes back

    async with server.runtime.db.session() as session:
        case = (await session.execute(select(Case))).scalar_one()
    staff = await logged_in_page(browser, server)
    await staff.goto(str(server.make_url(f"/inbox/cases/{case.id}")))
    for text, kind in (("钱七您好，已通知物业清理，三日内回复。", "interim"), ("钱七您好，杂物已清理完毕。", "final")):
        await staff.fill("#reply-text", text)
        await staff.check(f"form.reply input[name=type][value={kind}]")
        await staff.select_option("form.reply select[name=delivered_by]", "网站回复")
        await staff.click("form.reply button[type=submit]")
        await staff.wait_for_selector(".alert.ok")
        await citizen.goto(tracked)
        assert text in await citizen.inner_text("main")
    assert (await citizen.inner_text("dd.status")).strip() == "已答复"
    assert "李明" not in await citizen.inner_text("main")

    await citizen.check("form.rating input[name=score][value='5']")
    await citizen.click("form.rating button[type=submit]")
    await citizen.wait_for_selector(".alert.ok")
    assert await citizen.locator("form.rating").count() == 0

    await citizen.goto(str(server.make_url("/letters")))
    shown = await citizen.inner_text("main")
    assert "人防工程出入口被占用" in shown and "杂物已清理完毕" in shown
    assert "钱七" not in shown and "13600002222" not in shown and "110101199003071234" not in shown
    assert staff.alerts == []
    await context.close()
