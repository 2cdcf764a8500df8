"""The web letter box over real HTTP, on SQLite and PostgreSQL: a letter
from the form gets its number and 查询码 once; refusals (no CSRF token, the
honeypot, a flood, empty and huge letters) store nothing; markup stays
text; /letters publishes only answered letters whose writers consented,
without their personal data, or staff's edited text."""

from __future__ import annotations

import re
from html import unescape

import pytest
from sqlalchemy import func, select

from bot.domain.tracking import code_matches
from storage.models import Case, Contact, RequestCount
from tests.conftest import make_settings, make_token, serve
from tests.inbox_staff import add_user, csrf_of, login, page

LETTER = {"name": "张三丰", "phone": "13812345678", "title": "小区人防车位能否出售",
          "content": "请问我们小区的人防车位开发商能否出售？"}
NUMBER = re.compile(r'class="number">([A-Z]{2}\d{8}-\d{4})<')
CODE = re.compile(r'class="code">([A-Z0-9]+)<')


async def write(client, *, token: str | None = "page", **fields):
    """Post a letter as the form does (its CSRF token, from the form page)."""
    data = {**LETTER, **fields}
    if token == "page":
        data["csrf_token"] = csrf_of(await page(client, "/letters/new"))
    elif token is not None:
        data["csrf_token"] = token
    return await client.post("/letters", data=data, allow_redirects=False)


async def receipt(client, **fields) -> tuple[str, str]:
    resp = await write(client, **fields)
    assert resp.status == 303, await resp.text()
    html = await page(client, resp.headers["Location"])
    return NUMBER.search(html).group(1), CODE.search(html).group(1)


async def cases_of(client) -> list[Case]:
    async with client.runtime.db.session() as session:
        return list((await session.execute(select(Case).order_by(Case.id))).scalars())


async def count(client, model) -> int:
    async with client.runtime.db.session() as session:
        return (await session.execute(select(func.count()).select_from(model))).scalar_one()


async def test_a_letter_gets_its_number_and_code_once_and_reaches_the_inbox(server):
    form = await page(server, "/letters/new")
    for name in ("name", "phone", "title", "content", "publish", "csrf_token"):
        assert f'name="{name}"' in form
    assert 'name="viewport"' in form

    resp = await write(server)
    assert resp.status == 303
    assert resp.headers["Location"] == "/letters/done"  # no number, no code in the URL
    done = await server.get("/letters/done")
    html = await done.text()
    assert done.status == 200 and "信件已提交" in html
    number, code = NUMBER.search(html).group(1), CODE.search(html).group(1)
    assert number.startswith("WZ") and len(code) >= 6
    assert done.headers["Cache-Control"] == "no-store"

    (case,) = await cases_of(server)
    assert case.number == number and case.channel == "portal" and case.title == LETTER["title"]
    assert case.text == LETTER["content"] and case.publish_consent is False  # the box was not ticked
    assert code_matches(server.runtime.settings.secret_key, code, case.tracking_code_hash)
    assert not code_matches(server.runtime.settings.secret_key, "23456789", case.tracking_code_hash)
    async with server.runtime.db.session() as session:
        contact = await session.get(Contact, case.contact_id)
    assert (contact.name, contact.phone) == ("张三丰", "13812345678")

    # Shown once: a second visit shows neither the number nor the code.
    again = await server.get("/letters/done")
    text = await again.text()
    assert again.status == 404 and code not in text and number not in text and "只在提交后显示一次" in text

    # Staff find it in the inbox: channel 门户网站, the writer's phone (masked).
    await add_user(server.runtime, "liming")
    await login(server, "liming")
    inbox = await page(server, "/inbox?channel=portal")
    assert number in inbox
    case_page = await page(server, f"/inbox/cases/{case.id}")
    assert "门户网站" in case_page and "138****5678" in case_page and "张三丰" in case_page
    assert "写信人未同意公开" in case_page
    assert code not in case_page


async def test_a_forged_or_old_receipt_cookie_shows_nothing(server):
    server.session.cookie_jar.update_cookies({"intake_letter_receipt": "eyJ2Ijp7fX0.forged"})
    resp = await server.get("/letters/done")
    assert resp.status == 404


async def test_without_its_csrf_token_a_letter_is_refused_and_nothing_is_stored(server):
    for token in (None, "", "forged-token"):
        resp = await write(server, token=token)
        assert resp.status == 403
        assert "表单已过期或缺少安全校验" in await resp.text()
    # The token of another browser's cookie does not fit this one's.
    other = csrf_of(await page(server, "/letters/new"))
    server.session.cookie_jar.clear()
    await page(server, "/letters/new")
    assert (await write(server, token=other)).status == 403
    # No cookie at all (a cross-site form cannot send ours: SameSite, and it cannot read it).
    server.session.cookie_jar.clear()
    assert (await write(server, token=other)).status == 403
    assert await cases_of(server) == []
    assert await count(server, RequestCount) == 0


async def test_a_filled_honeypot_is_refused_and_nothing_is_stored(server):
    form = await page(server, "/letters/new")
    assert 'name="website"' in form and 'class="hp"' in form
    resp = await write(server, website="http://spam.example")
    assert resp.status == 400
    assert "提交未成功" in await resp.text()
    assert await cases_of(server) == []
    assert await count(server, RequestCount) == 0


async def test_a_flood_from_one_address_is_refused_after_the_limit(db_url, tmp_path, classifier):
    settings = make_settings(db_url, tmp_path, letters_per_address=3, letters_window_minutes=10)
    async with serve(settings, classifier) as client:
        for i in range(3):
            assert (await write(client, title=f"第{i}封信")).status == 303
        resp = await write(client, title="第4封信")
        assert resp.status == 429
        assert resp.headers["Retry-After"] == "600"
        assert "提交过于频繁" in await resp.text() and "10 分钟后再试" in await resp.text()
        assert [c.title for c in await cases_of(client)] == ["第0封信", "第1封信", "第2封信"]


@pytest.mark.parametrize("fields, message, field", [
    ({"content": ""}, "请填写信件内容", "content"),
    ({"content": "   \r\n  "}, "请填写信件内容", "content"),
    ({"content": "啊" * 100_000}, "信件内容最多 5000 个字，现在有 100000 个字", "content"),
    ({"content": "a" * 5001}, "信件内容最多 5000 个字", "content"),
    ({"title": ""}, "请填写标题", "title"),
    ({"title": "题" * 201}, "标题最多 200 个字", "title"),
    ({"name": ""}, "请填写姓名", "name"),
    ({"phone": "call me"}, "联系电话格式不正确", "phone"),
    ({"content": "含有\x00字符"}, "控制字符", "content"),
])
async def test_a_bad_letter_is_refused_with_the_form_reshown_and_nothing_stored(server, fields, message, field):
    resp = await write(server, **fields)
    html = await resp.text()
    assert resp.status == 400, html
    assert message in unescape(html)
    assert re.search(rf'<p class="bad"><label for="{field}">', html)
    # What was typed comes back (the other fields at least), with a fresh token.
    kept = "phone" if field != "phone" else "title"
    assert f'value="{LETTER[kept]}"' in html
    assert 'name="csrf_token" value="' in html
    assert await cases_of(server) == []


async def test_a_body_over_the_server_limit_gets_a_chinese_page(db_url, tmp_path, classifier):
    async with serve(make_settings(db_url, tmp_path), classifier) as client:
        resp = await write(client, content="啊" * 200_000)  # 1.8 MB encoded: over the 1 MB body limit
        assert resp.status == 413
        assert "提交的内容过长" in await resp.text()
        assert await cases_of(client) == []


async def test_markup_is_stored_as_text_and_escaped_on_every_page(server):
    title, content = "<script>alert(1)</script>", "<b>粗体</b><img src=x onerror=alert(1)>"
    number, _ = await receipt(server, title=title, content=content, publish="1")
    (case,) = await cases_of(server)
    assert (case.title, case.text) == (title, content)
    # The form re-shown after a refusal escapes what was typed.
    refused = await (await write(server, title=title, content="")).text()
    assert "<script>alert(1)</script>" not in refused and "&lt;script&gt;alert(1)&lt;/script&gt;" in refused
    # Staff's case page.
    token = await make_token(server.runtime)
    await add_user(server.runtime, "liming")
    await login(server, "liming")
    staff_page = await page(server, f"/inbox/cases/{case.id}")
    assert "<script>alert(1)" not in staff_page and "<img src=x" not in staff_page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in staff_page
    # Published.
    resp = await server.post(f"/api/v1/cases/{case.id}/replies", json={"text": "答复：<i>已核实</i>", "type": "final"},
                             headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 201
    published = await page(server, "/letters")
    assert "<script>alert(1)" not in published and "<img src=x" not in published and "<i>" not in published
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in published and "&lt;i&gt;已核实&lt;/i&gt;" in published


async def test_letters_publishes_only_answered_consented_letters_without_personal_data(server):
    token = await make_token(server.runtime)
    auth = {"Authorization": f"Bearer {token}"}
    personal = ("张三丰", "13812345678", "510104199001011234", "zsf@example.com", "028-86123456")
    await receipt(server, title="张三丰反映车位问题", publish="1", content=(
        "我叫张三丰，电话13812345678，身份证号510104199001011234，邮箱zsf@example.com，"
        "座机028-86123456。小区人防车位被占用，请处理。"))
    await receipt(server, name="李四", title="未答复的信", publish="1")
    await receipt(server, name="王五", title="不同意公开的信")  # no consent box: not published
    answered, pending, private = await cases_of(server)

    async def answer(case, text, reply_type="final"):
        resp = await server.post(f"/api/v1/cases/{case.id}/replies", json={"text": text, "type": reply_type},
                                 headers=auth)
        assert resp.status == 201, await resp.text()

    await answer(answered, "正在核实。", "interim")
    await answer(answered, "张三丰您好：经核实，占用车位已清理。张先生如有疑问请回电。")
    await answer(pending, "正在核实。", "interim")  # not the final answer: not published yet
    await answer(private, "王五您好：已答复。")

    html = await page(server, "/letters")
    assert "反映车位问题" in html and "小区人防车位被占用，请处理。" in html
    assert "经核实，占用车位已清理。" in html and "正在核实" not in html
    assert "未答复的信" not in html and "不同意公开的信" not in html and "王五" not in html
    for value in personal:
        assert value not in html, value
    assert "张先生" not in html and "*先生" in html

    # Staff edit the published text on the case page; it shows instead.
    await add_user(server.runtime, "liming")
    await login(server, "liming")
    case_page = await page(server, f"/inbox/cases/{answered.id}")
    assert "已在网上信箱公开" in case_page and "13812345678" not in case_page.split("网上信箱公开")[1]
    resp = await server.post(f"/inbox/cases/{answered.id}/publication", allow_redirects=False, data={
        "csrf_token": csrf_of(case_page), "published_title": "关于小区人防车位被占用",
        "published_letter": "小区人防车位被占用，请处理。", "published_answer": "经核实，占用车位已清理。"})
    assert resp.status == 303
    html = await page(server, "/letters")
    assert "关于小区人防车位被占用" in html and "反映车位问题" not in html and "回电" not in html
    # An edit without the staff CSRF token changes nothing.
    resp = await server.post(f"/inbox/cases/{answered.id}/publication", allow_redirects=False,
                             data={"published_title": "篡改"})
    assert resp.status == 403
    # Withheld: gone from /letters.
    case_page = await page(server, f"/inbox/cases/{answered.id}")
    assert "修改了网上信箱的公开内容" in case_page
    resp = await server.post(f"/inbox/cases/{answered.id}/publication", allow_redirects=False, data={
        "csrf_token": csrf_of(case_page), "published_title": "关于小区人防车位被占用", "withheld": "1"})
    assert resp.status == 303
    html = await page(server, "/letters")
    assert "关于小区人防车位被占用" not in html and "暂无公开的信件" in html
    # A letter whose writer did not consent cannot be published by staff.
    case_page = await page(server, f"/inbox/cases/{private.id}")
    resp = await server.post(f"/inbox/cases/{private.id}/publication", data={
        "csrf_token": csrf_of(case_page), "published_title": "强行公开"})
    assert resp.status == 409 and "写信人未同意公开" in await resp.text()
    async with server.runtime.db.session() as session:
        assert (await session.get(Case, private.id)).published_title is None


async def test_letters_pages_newest_answer_first(db_url, tmp_path, classifier):
    async with serve(make_settings(db_url, tmp_path, letters_per_address=100), classifier) as client:
        token = await make_token(client.runtime)
        for i in range(21):
            await receipt(client, title=f"第{i:02d}号来信", publish="1")
        for case in await cases_of(client):
            resp = await client.post(f"/api/v1/cases/{case.id}/replies", json={"text": "已答复。", "type": "final"},
                                     headers={"Authorization": f"Bearer {token}"})
            assert resp.status == 201
        first = await page(client, "/letters")
        titles = re.findall(r"第(\d\d)号来信", first)
        assert titles == [f"{i:02d}" for i in range(20, 0, -1)]
        assert "第 1 / 2 页" in first and 'href="/letters?page=2"' in first
        second = await page(client, "/letters?page=2")
        assert re.findall(r"第(\d\d)号来信", second) == ["00"]
        for bad in ("abc", "0", "-1", "１", "99999999999999999999"):
            resp = await client.get(f"/letters?page={bad}")
            assert resp.status == 400 and "页码" in await resp.text()
        assert (await client.get("/letters?page=3")).status == 404
