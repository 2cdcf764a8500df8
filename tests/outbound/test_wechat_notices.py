"""Status notices on WeChat (订阅通知): a final answer or a request for more
on a WeChat case whose 48-hour customer-service window has closed goes out
as a subscription notice linking to the case's /track page, through the
outbox, against the local WeChat API (tests/fake_wechat_api.py) with its
refusals (43101 not subscribed, 47003 a field out of the template's
rules), each recorded on the reply."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import pytest_asyncio
from sqlalchemy import select

from bot.domain import tracking
from storage.models import Case, OutboxItem
from tests.conftest import make_settings
from tests.fake_wechat_api import APP_SECRET, FakeWeChatApi
from tests.inbox_staff import add_user, login, page, serve, submit
from tests.outbound.test_wechat_sender import FAST, OPENID, reply, settled, wechat_case

TEMPLATE = "TPL-progress-0001"
KEYS = ["character_string1", "phrase2", "thing3", "time4", "thing5"]
SITE = "https://xinfang.example.gov.cn"


@pytest_asyncio.fixture
async def fake():
    async with FakeWeChatApi() as api:
        api.templates[TEMPLATE] = list(KEYS)
        yield api


def serve_staff(db_url, tmp_path, classifier, fake, **overrides):
    settings = make_settings(db_url, tmp_path, wechat_app_secret=APP_SECRET, wechat_api_base=fake.base_url,
                             wechat_notice_template=TEMPLATE, public_url=SITE, **overrides)
    return serve(settings, classifier, outbox_options=FAST)


@pytest_asyncio.fixture
async def staff(db_url, tmp_path, classifier, fake):
    async with serve_staff(db_url, tmp_path, classifier, fake) as client:
        await add_user(client.runtime, "liming")
        assert (await login(client, "liming")).status == 303
        yield client


async def closed_window_case(staff, fake, text: str) -> Case:
    three_days_ago = datetime.now(timezone.utc) - timedelta(days=3)
    case = await wechat_case(staff.runtime, text, at=three_days_ago)
    fake.user_wrote(OPENID, at=three_days_ago.timestamp())
    return case


async def test_a_final_answer_after_the_window_closed_arrives_as_a_notice_linking_to_the_case(staff, fake):
    case = await closed_window_case(staff, fake, "小区地下人防工程长期漏水，物业一直推诿不修，请相关部门尽快处理")
    fake.subscribe(OPENID, TEMPLATE)
    assert (await reply(staff, case, "已督促物业维修，现已修复。")).status == 303
    assert (await settled(staff, "已督促物业维修，现已修复。")).status == "sent"
    assert fake.sent == []  # no customer-service message: the window is closed
    (notice,) = fake.notices
    data = notice["data"]
    assert data["character_string1"] == case.number and data["phrase2"] == "已答复"
    assert data["thing3"].startswith("小区地下人防工程") and len(data["thing3"]) <= 20
    assert data["time4"].startswith(f"{datetime.now(timezone(timedelta(hours=8))).year}年")
    # The link opens the case's /track page with a code the case recognises.
    link = urlsplit(notice["page"])
    assert f"{link.scheme}://{link.netloc}" == SITE and link.path == "/track"
    query = parse_qs(link.query)
    assert query["number"] == [case.number]
    async with staff.runtime.db.session() as s:
        stored = (await s.get(Case, case.id)).tracking_code_hash
    assert tracking.code_matches(staff.runtime.settings.secret_key, query["code"][0], stored)
    assert not tracking.code_matches(staff.runtime.settings.secret_key, tracking.new_code(), stored)


async def test_a_request_for_more_is_a_notice_too_but_progress_is_not(staff, fake):
    case = await closed_window_case(staff, fake, "咨询人防车位能否出售")
    fake.subscribe(OPENID, TEMPLATE)
    path = f"/inbox/cases/{case.id}"
    from tests.inbox_staff import version_of

    html = await page(staff, path)
    await submit(staff, path, f"{path}/reply", {"version": version_of(html), "text": "请补充车位所在小区名称。",
                                                 "type": "request_info"})
    assert (await settled(staff, "请补充车位所在小区名称。")).status == "sent"
    assert [n["data"]["phrase2"] for n in fake.notices] == ["待补充"]
    html = await page(staff, path)
    await submit(staff, path, f"{path}/reply", {"version": version_of(html), "text": "正在核实中。", "type": "interim"})
    interim = await settled(staff, "正在核实中。")
    assert interim.status == "failed" and "48小时" in interim.error and len(fake.notices) == 1


async def test_not_subscribed_is_recorded_on_the_reply_and_a_retry_uses_the_reopened_window(staff, fake):
    case = await closed_window_case(staff, fake, "人防工程出入口被堵")
    await reply(staff, case, "已通知相关单位清理。")
    refused = await settled(staff, "已通知相关单位清理。")
    assert refused.status == "failed" and "未订阅" in refused.error and fake.notices == []
    html = await page(staff, f"/inbox/cases/{case.id}")
    assert "未订阅" in html and "重新发送" in html
    # The citizen writes again: the retry goes out as the message itself.
    await wechat_case(staff.runtime, "请问处理了吗")
    fake.user_wrote(OPENID)
    path = f"/inbox/cases/{case.id}"
    assert (await submit(staff, path, f"{path}/messages/{refused.id}/retry", {})).status == 303
    assert (await settled(staff, "已通知相关单位清理。")).status == "sent"
    assert [m["content"] for m in fake.sent][0].startswith("已通知相关单位清理。")
    async with staff.runtime.db.session() as s:
        targets = (await s.execute(select(OutboxItem.target).where(OutboxItem.case_id == case.id)
                                   .order_by(OutboxItem.id))).scalars().all()
    assert targets == ["wechat_notice", "wechat"]


async def test_a_field_mapping_that_misses_a_template_key_is_refused_and_says_what_to_fix(
        db_url, tmp_path, classifier, fake):
    fake.templates[TEMPLATE] = KEYS + ["thing7"]  # the template has a field our mapping does not fill
    async with serve_staff(db_url, tmp_path, classifier, fake) as staff:
        await add_user(staff.runtime, "liming")
        await login(staff, "liming")
        case = await closed_window_case(staff, fake, "防空警报试鸣时间")
        fake.subscribe(OPENID, TEMPLATE)
        await reply(staff, case, "每年9月第三个星期六试鸣。")
        refused = await settled(staff, "每年9月第三个星期六试鸣。")
    assert refused.status == "failed" and "wechat_notice" in refused.error and "thing7" in refused.error
    assert fake.notices == []
