"""Issue 18 over real HTTP on SQLite and PostgreSQL: a message holding two
requests keeps both; staff see the second one on the case page, on its
inbox row and in the API, the disclosure officer sees it among the requests
to register, and a document asked for beside a complaint is never lost."""

from __future__ import annotations

from tests.inbox_staff import add_user, login, page

TWO = {
    "channel": "letter",
    "received_at": "2020-03-16 10:05",
    "text": "地下车库的人防车位被物业锁了不让停，太过分了，另外请把这个小区人防车位的备案文件给我一份",
    "contact": {"name": "王五", "phone": "13800005678"},
}
ONE = {**TWO, "text": "请问人防车位可以出售吗？", "received_at": "2020-03-16 10:06"}


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


async def test_second_request_is_shown_in_the_api_and_on_the_case_page(server, api_token):
    resp = await server.post("/api/v1/cases", json=TWO, headers=auth(api_token))
    assert resp.status == 201
    case = await resp.json()
    got = await (await server.get(f"/api/v1/cases/{case['id']}", headers=auth(api_token))).json()
    # the complaint is stated first, the document asked for after 另外
    assert (got["kind"], got["classification"]["secondary_kind"]) == ("complaint", "disclosure_request"), got
    one = await (await server.post("/api/v1/cases", json=ONE, headers=auth(api_token))).json()
    assert one["classification"]["secondary_kind"] is None

    await add_user(server.runtime, "liming", display_name="李明")
    assert (await login(server, "liming")).status == 303
    html = await page(server, f"/inbox/cases/{case['id']}")
    assert "另含诉求：政府信息公开申请" in html and "可能同时是政府信息公开申请" in html
    assert "另含诉求" not in await page(server, f"/inbox/cases/{one['id']}")
    # triage sees it in the list too, on that case's row only
    rows = [r for r in (await page(server, "/inbox?view=all")).split("<tr") if "/inbox/cases/" in r]
    tagged = [r for r in rows if "含信息公开申请" in r]
    assert len(tagged) == 1 and f"/inbox/cases/{case['id']}\"" in tagged[0], tagged


async def test_the_disclosure_officer_sees_open_cases_with_a_second_request_for_a_document(server, api_token):
    case = await (await server.post("/api/v1/cases", json=TWO, headers=auth(api_token))).json()
    one = await (await server.post("/api/v1/cases", json=ONE, headers=auth(api_token))).json()
    await add_user(server.runtime, "liming", display_name="李明")
    assert (await login(server, "liming")).status == 303

    def listed(html, cid):
        block = html.split('class="alert info second-requests"', 1)
        return len(block) == 2 and f'href="/inbox/cases/{cid}/disclosure"' in block[1].split("</div>", 1)[0]

    html = await page(server, "/inbox/disclosure")
    assert "可能同时申请获取政府信息" in html and listed(html, case["id"]) and not listed(html, one["id"])
    # once the case is closed the question is settled: off the list
    resp = await server.patch(f"/api/v1/cases/{case['id']}", json={"status": "closed"}, headers=auth(api_token))
    assert resp.status == 200, await resp.text()
    assert not listed(await page(server, "/inbox/disclosure"), case["id"])

