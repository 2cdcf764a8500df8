"""The dashboard's month: this month's 通报 table by assignee with the
satisfaction rate, and each assignee's cases due soon or overdue as links
to their pages, over real HTTP on SQLite and PostgreSQL, escaped."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from html import unescape
from zoneinfo import ZoneInfo

import pytest_asyncio

from bot.domain.actors import Actor
from bot.services import cases, lifecycle
from bot.services.imports import import_file
from tests.inbox_staff import add_user, login, page

TZ = ZoneInfo("Asia/Shanghai")


@pytest_asyncio.fixture
async def staff(server):
    await add_user(server.runtime, "liming", display_name="李<明>")
    assert (await login(server, "liming")).status == 303
    return server


async def test_the_month_table_and_the_digest(staff, tmp_path):
    rt = staff.runtime
    actor = Actor("test")
    now = datetime.now(timezone.utc)
    today = now.astimezone(TZ).date()
    this_month = (now - timedelta(minutes=5)).astimezone(TZ).strftime("%Y-%m-%d %H:%M")
    last_month = (now - timedelta(days=40)).astimezone(TZ).strftime("%Y-%m-%d %H:%M")
    path = tmp_path / "history.csv"
    path.write_text(
        "外部编号,收到时间,类型,状态,内容,办理期限,办结时间\n"
        f"M-1,{this_month},咨询,新收,人防车位能否出售,{(today + timedelta(days=20)).isoformat()},\n"
        f"M-2,{this_month},咨询,新收,人防工程漏水,{(today + timedelta(days=20)).isoformat()},\n"
        f"M-3,{this_month},咨询,新收,防空警报几点试鸣,{today.isoformat()},\n"
        f"L-1,{last_month},咨询,办理中,上个月的留言,{(today - timedelta(days=3)).isoformat()},\n",
        encoding="utf-8")
    assert (await import_file(rt, path, "portal", progress=False)).imported == 4
    listed = await cases.list_cases(rt, cases.search_filter(None), None, limit=10, before_id=None)
    ids = {c.external_id: (c.id, c.number) for c, _ in listed.items}
    for ref in ("M-1", "M-3", "L-1"):
        await cases.update(rt, actor, ids[ref][0], {"assignee": "liming"})
    # Three ratings: M-1's 4 and 3 (both satisfied), M-2's 2 (not; it re-opens the case for 重办).
    await cases.reply(rt, actor, ids["M-1"][0], "不可以出售", delivered_by="网站")
    await lifecycle.rate(rt, actor, ids["M-1"][0], 4, "staff")
    await lifecycle.rate(rt, actor, ids["M-1"][0], 3, "staff")
    await cases.reply(rt, actor, ids["M-2"][0], "已转物业处理", delivered_by="网站")
    await lifecycle.rate(rt, actor, ids["M-2"][0], 2, "staff")

    html = await page(staff, "/inbox/dashboard")
    month = html[html.index('id="month-table"'):html.index("</table>", html.index('id="month-table"'))]
    # The name is escaped; last month's case is not in this month's table.
    assert "李&lt;明&gt;" in month and "李<明>" not in html
    cells = {unescape(m[0]): re.findall(r'<td class="num">([^<]*)</td>', m[1])
             for m in re.findall(r"<tr[^>]*><td>([^<]*)</td>(.*?)</tr>", month)}
    assert cells["李<明>"][:3] == ["2", "1", "1"]  # received, answered, on time
    assert cells["未分派"][0] == "1" and cells["合计"][0] == "3"
    # Three ratings, two of 3 or more.
    assert re.search(r'id="fig-satisfaction">66\.7%<', html) and "满意 2 / 评价 3" in html
    assert re.search(r'id="fig-month-received">3<', html)

    digest = html[html.index('id="due-digest"'):]
    digest = digest[:digest.index("</table>")]
    rows = re.findall(r"<tr>\s*<td>([^<]*)</td>(.*?)</tr>", digest, re.S)
    assert [unescape(label) for label, _ in rows] == ["李<明>"]
    overdue, due_soon = re.findall(r"<td[^>]*>(.*?)</td>", rows[0][1], re.S)
    assert f'<a href="/inbox/cases/{ids["L-1"][0]}">{ids["L-1"][1]}</a>' in overdue
    assert f'<a href="/inbox/cases/{ids["M-3"][0]}">{ids["M-3"][1]}</a>' in due_soon
    assert ids["M-1"][1] not in digest  # answered
    assert (await staff.get("/inbox/dashboard?year=2019")).status == 200  # another year's charts, the same month
