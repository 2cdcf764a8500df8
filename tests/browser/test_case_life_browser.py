"""A case's whole life in a real browser and on WeChat: staff tell progress,
ask for more, the citizen answers, staff answer; the citizen rates it 2, it
is re-handled, answered again and rated 5; the annual report counts it once,
answered on time, and the 通报 statistics count one case, re-handled once,
rated twice, half satisfied."""

from __future__ import annotations

import re
import time
from datetime import datetime

from sqlalchemy import select

from bot.services import reports, stats
from storage.models import Case, CaseRating
from tests.browser.test_inbox_browser import logged_in_page
from tests.handlers.test_wechat import peer, post
from tests.inbox_staff import add_user


async def send(page, text: str, reply_type: str) -> None:
    await page.fill("#reply-text", text)
    await page.check(f"form.reply input[name=type][value={reply_type}]")
    await page.click("form.reply button[type=submit]")
    await page.wait_for_selector(".alert.ok")


async def status_shown(page) -> str:
    return (await page.inner_text("h1 .status")).strip()


async def test_interim_request_info_answer_low_rating_rehandling_and_good_rating(server, browser):
    s = server.runtime
    await add_user(s, "liming", display_name="李明")
    now = int(time.time())
    await post(server, peer.text("oLife", "小区地下人防工程漏水，物业一直不修，我要投诉", create_time=now))
    async with s.db.session() as session:
        case = (await session.execute(select(Case))).scalar_one()
    page = await logged_in_page(browser, server)
    await page.goto(str(server.make_url(f"/inbox/cases/{case.id}")))

    # Sending without saying what the reply is: refused, the text kept.
    await page.fill("#reply-text", "已转物业核实")
    await page.evaluate("document.querySelector('form.reply').noValidate = true")
    await page.click("form.reply button[type=submit]")
    await page.wait_for_selector(".alert.error")
    assert "请选择答复类型" in await page.inner_text(".alert.error")
    assert await page.input_value("#reply-text") == "已转物业核实"

    await send(page, "已转物业核实，三日内回复您。", "interim")
    assert await status_shown(page) == "新收"
    await send(page, "请补充漏水位置的照片或说明。", "request_info")
    assert await status_shown(page) == "待群众补充"
    assert "期限暂停" in await page.inner_text(".facts")

    await post(server, peer.text("oLife", "漏水在地下二层B区，靠近3号出口", create_time=now + 60))
    await page.reload()
    assert await status_shown(page) == "办理中"
    assert "漏水在地下二层B区" in await page.inner_text(".thread")

    await send(page, "已督促物业维修，现已修复。", "final")
    assert await status_shown(page) == "已答复"

    _, reply = await post(server, peer.text("oLife", "2", create_time=now + 120))
    assert "重新交办" in reply["Content"]
    await page.reload()
    assert await status_shown(page) == "办理中"
    assert "重办" in await page.inner_text("h1") and "2 分 不满意" in await page.inner_text(".facts")

    await send(page, "已更换防水层，经复查无渗漏。", "final")
    _, reply = await post(server, peer.text("oLife", "5", create_time=now + 180))
    assert "感谢您的评价" in reply["Content"]
    await page.reload()
    assert await status_shown(page) == "已答复"
    assert "5 分 非常满意" in await page.inner_text(".facts")
    assert page.alerts == []

    async with s.db.session() as session:
        case = await session.get(Case, case.id)
        scores = (await session.execute(select(CaseRating.score).order_by(CaseRating.id))).scalars().all()
    assert (case.status, case.reopened, case.rating, scores) == ("answered", 1, 5, [2, 5])
    year = datetime.now(s.settings.tz).year
    report = await reports.build(s.db, year, calendar=await s.calendar.refresh(force=True))
    inter = report["interactions"]
    assert (inter["total"], inter["by_channel"], inter["answered_on_time"], inter["answered_late"], inter["open"]) \
        == (1, {"wechat": 1}, 1, 0, 0)
    assert all(c["ok"] for c in report["checks"])
    today = datetime.now(s.settings.tz).date().isoformat()
    table = await stats.table(s, today, today, "channel")
    assert [r["key"] for r in table["rows"]] == ["wechat"]
    t = table["total"]
    assert (t["received"], t["answered"], t["on_time"], t["late"], t["open_overdue"], t["reopened"], t["rated"],
            t["satisfied"], t["satisfaction_rate"], t["avg_working_days"]) == (1, 1, 1, 0, 0, 1, 2, 1, 0.5, 0.0)
    assert re.search(r"WX\d{8}-\d{4}", await page.inner_text("h1"))
