"""Answering a WeChat case from the inbox: a customer-service message through
a local, protocol-faithful WeChat API (tests/fake_wechat_api.py) that enforces
the 48-hour / 5-message window and can fail."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone

import pytest_asyncio
from sqlalchemy import select

from bot.domain.cases import InboundMessage
from bot.domain.lifecycle import RATING_QUESTION
from bot.services.intake import record
from bot.outbound.outbox import OutboxOptions
from storage.models import Case, Message, OutboxItem
from tests.conftest import make_settings
from tests.fake_wechat_api import APP_SECRET, FakeWeChatApi
from tests.inbox_staff import add_user, login, page, serve, submit, version_of

OPENID = "oUser_ABCdef123"
FAST = OutboxOptions(poll_interval=0.05, base_delay=0.05, max_delay=0.2, max_attempts=3, send_timeout=2.0)


@pytest_asyncio.fixture
async def fake():
    async with FakeWeChatApi() as api:
        yield api


@pytest_asyncio.fixture
async def staff(db_url, tmp_path, classifier, fake):
    settings = make_settings(db_url, tmp_path, wechat_app_secret=APP_SECRET, wechat_api_base=fake.base_url)
    async with serve(settings, classifier, outbox_options=FAST) as client:
        await add_user(client.runtime, "liming")
        assert (await login(client, "liming")).status == 303
        yield client


async def wechat_case(services, text: str, *, at: datetime | None = None) -> Case:
    at = at or datetime.now(timezone.utc) - timedelta(minutes=1)
    item = InboundMessage(channel="wechat", identity=OPENID, received_at=at, text=text,
                          classification=services.classifier.classify(text), thread=True,
                          dedupe_key=f"wx:gh_test:{OPENID}:{at.timestamp()}")
    (result,) = await record(services, [item])
    async with services.db.session() as session:
        return await session.get(Case, result.case_id)


async def reply(client, case: Case, text: str):
    path = f"/inbox/cases/{case.id}"
    html = await page(client, path)
    return await submit(client, path, f"{path}/reply", {"version": version_of(html), "text": text, "type": "final"})


async def settled(client, message_text: str, timeout: float = 10.0) -> Message:
    """The reply once the outbox worker is done with it (sent or failed)."""
    deadline = time.monotonic() + timeout
    while True:
        async with client.runtime.db.session() as session:
            msg = (await session.execute(select(Message).where(Message.text == message_text,
                                                               Message.direction == "out"))).scalar_one()
        if msg.status in ("sent", "failed") or time.monotonic() > deadline:
            return msg
        await asyncio.sleep(0.05)


async def test_reply_goes_out_as_a_customer_service_message(staff, fake):
    case = await wechat_case(staff.runtime, "请问人防车位可以出售吗")
    fake.user_wrote(OPENID)
    html = await page(staff, f"/inbox/cases/{case.id}")
    assert "微信客服消息窗口：已打开" in html and "还可发送 5 条" in html
    resp = await reply(staff, case, "您好，人防车位不得出售产权。")
    assert resp.status == 303
    msg = await settled(staff, "您好，人防车位不得出售产权。")
    assert msg.status == "sent"
    # The answer asks for a rating (回访) and says how to give one.
    assert fake.sent == [{"touser": OPENID, "content": "您好，人防车位不得出售产权。" + RATING_QUESTION}]
    assert "回复数字 5（非常满意）" in RATING_QUESTION and "7日内" in RATING_QUESTION
    html = await page(staff, f"/inbox/cases/{case.id}")
    assert "已送达" in html and "还可发送 4 条" in html


async def test_closed_window_is_shown_and_a_refused_reply_kept_as_a_draft(staff, fake):
    # The citizen wrote three days ago: WeChat's 48-hour window has closed.
    three_days_ago = datetime.now(timezone.utc) - timedelta(days=3)
    case = await wechat_case(staff.runtime, "人防工程漏水，请处理", at=three_days_ago)
    fake.user_wrote(OPENID, at=three_days_ago.timestamp())
    html = await page(staff, f"/inbox/cases/{case.id}")
    assert "微信客服消息窗口：已关闭" in html and "48小时" in html
    await reply(staff, case, "已安排人员核查。")
    msg = await settled(staff, "已安排人员核查。")
    assert msg.status == "failed" and "48小时" in msg.error
    assert fake.sent == []
    html = await page(staff, f"/inbox/cases/{case.id}")
    assert "发送失败（草稿已保留）" in html and "已安排人员核查。" in html and "重新发送" in html
    # The citizen writes again: the window reopens and the kept reply goes out on retry.
    await wechat_case(staff.runtime, "请问处理得怎么样了")
    fake.user_wrote(OPENID)
    html = await page(staff, f"/inbox/cases/{case.id}")
    assert "微信客服消息窗口：已打开" in html
    resp = await submit(staff, f"/inbox/cases/{case.id}", f"/inbox/cases/{case.id}/messages/{msg.id}/retry", {})
    assert resp.status == 303
    assert (await settled(staff, "已安排人员核查。")).status == "sent"
    assert [m["content"] for m in fake.sent] == ["已安排人员核查。"]


async def test_five_messages_per_window_then_refused(staff, fake):
    case = await wechat_case(staff.runtime, "人防工程漏水")
    fake.user_wrote(OPENID)
    for i in range(5):
        await reply(staff, case, f"第{i + 1}次答复")
        assert (await settled(staff, f"第{i + 1}次答复")).status == "sent"
    html = await page(staff, f"/inbox/cases/{case.id}")
    assert "微信客服消息窗口：已关闭" in html and "5条" in html
    await reply(staff, case, "第6次答复")
    sixth = await settled(staff, "第6次答复")
    assert sixth.status == "failed" and "5条" in sixth.error
    # Delivered another way: the staff member records it.
    path = f"/inbox/cases/{case.id}"
    resp = await submit(staff, path, f"{path}/messages/{sixth.id}/delivered", {"delivered_by": "电话告知"})
    assert resp.status == 303
    assert (await settled(staff, "第6次答复")).status == "sent"


async def test_wechat_outage_is_retried_and_an_expired_token_refreshed(staff, fake):
    case = await wechat_case(staff.runtime, "防空警报几点试鸣")
    fake.user_wrote(OPENID)
    fake.fail_next("cgi-bin/message/custom/send", http_status=500)
    await reply(staff, case, "每年9月18日试鸣。")
    assert (await settled(staff, "每年9月18日试鸣。")).status == "sent"
    fake.expire_token()
    await reply(staff, case, "补充：试鸣时间为上午10点。")
    assert (await settled(staff, "补充：试鸣时间为上午10点。")).status == "sent"
    # Only the answer that settles the case asks for a rating.
    assert [m["content"] for m in fake.sent] == ["每年9月18日试鸣。" + RATING_QUESTION, "补充：试鸣时间为上午10点。"]
    async with staff.runtime.db.session() as session:
        items = (await session.execute(select(OutboxItem).order_by(OutboxItem.id))).scalars().all()
    assert [i.status for i in items] == ["sent", "sent"] and items[0].attempts == 2
