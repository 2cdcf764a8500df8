"""The case page's 办理记录 and its classification over real HTTP (SQLite and
PostgreSQL): sentences in Chinese with display names and office-local
times, the raw entry only for admins, a staff reclassification shown as
such."""

from __future__ import annotations

import re
from html import unescape

from tests.conftest import make_token
from tests.handlers.test_inbox_cases import new_case
from tests.inbox_staff import add_user, login, page, submit, version_of


def audit_section(html: str) -> str:
    start = html.index("<h2>办理记录</h2>")
    return unescape(html[start:html.index("</ol>", start)])


def visible(section: str) -> str:
    """The text a staff member reads (the admin's folded raw entries left out)."""
    return re.sub(r"<[^>]+>", " ", re.sub(r"<details.*?</details>", "", section, flags=re.S))


async def test_assignment_by_a_person_and_a_token_reads_as_sentences(server):
    rt = server.runtime
    await add_user(rt, "liming", display_name="李明")
    await add_user(rt, "zhaoliu", display_name="赵六")
    token = await make_token(rt, "wangwu", display_name="王五", role="admin")
    case = await new_case(rt, "请问人防车位可以出售吗？", kind="consultation")
    assert (await login(server, "liming")).status == 303
    path = f"/inbox/cases/{case.id}"
    html = await page(server, path)
    resp = await submit(server, path, f"{path}/update", {
        "version": version_of(html), "kind": case.kind, "topic": case.topic, "status": "in_progress",
        "assignee": "zhaoliu"})
    assert resp.status == 303
    # The API, with a token: its actor label is token:tests.
    resp = await server.patch(f"/api/v1/cases/{case.id}", json={"status": "waiting"},
                              headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 200, await resp.text()

    text = visible(audit_section(await page(server, path)))
    assert "李明 将案件分派给 赵六；状态：新收 → 办理中" in text
    assert "王五（接口） 修改了案件；状态：办理中 → 待群众补充" in text
    assert "门户网站 登记了案件 " + case.number in text
    for raw in ("token:", "user:", "channel:", "{", "assignee_id", "in_progress", "+00:00", "+08:00", "UTC"):
        assert raw not in text, raw
    # Staff do not get the raw entries at all; the page names nobody by login name.
    assert "<details" not in audit_section(await page(server, path))


async def test_admins_open_the_raw_entry_one_click_away(server):
    rt = server.runtime
    await add_user(rt, "boss", role="admin", display_name="王主任")
    case = await new_case(rt, "防空警报几点试鸣", kind="consultation")
    assert (await login(server, "boss")).status == 303
    section = audit_section(await page(server, f"/inbox/cases/{case.id}"))
    assert "<details" in section and "<summary>原始记录</summary>" in section
    assert '"action": "case.created"' in section  # the raw entry, folded


async def test_a_staff_reclassification_shows_who_not_the_models_confidence(server):
    rt = server.runtime
    await add_user(rt, "liming", display_name="李明")
    case = await new_case(rt, "你好")
    assert (await login(server, "liming")).status == 303
    path = f"/inbox/cases/{case.id}"
    html = await page(server, path)
    assert "置信度" in html  # the model's, before anyone looked
    resp = await submit(server, path, f"{path}/update", {
        "version": version_of(html), "kind": "complaint", "topic": "shelter", "status": case.status, "assignee": ""})
    assert resp.status == 303
    html = await page(server, path)
    assert "人工改分类（李明）" in html
    assert "置信度" not in html
    assert "李明 人工改分类；类型：其他 → 投诉；主题：" in visible(audit_section(html))
