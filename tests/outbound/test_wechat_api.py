"""The WeChat API client against a protocol-faithful local WeChat API server,
on real SQLite and PostgreSQL (the shared token lives in the database)."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from sqlalchemy import select

from bot.outbound.wechat_api import TOKEN_KEY, WeChatApi, WeChatApiError, WeChatUnavailable
from storage.database import Database
from storage.models import KeyValue
from tests.conftest import make_settings
from tests.fake_wechat_api import APP_SECRET, FakeWeChatApi


@pytest.fixture
async def fake():
    async with FakeWeChatApi() as f:
        yield f


@pytest.fixture
async def db(db_url):
    database = Database(db_url)
    yield database
    await database.close()


def make_api(db_url, tmp_path, fake, db, **kw) -> WeChatApi:
    settings = make_settings(db_url, tmp_path, wechat_app_secret=APP_SECRET, wechat_api_base=fake.base_url)
    return WeChatApi(settings, db, **kw)


async def test_one_token_for_all_workers(db_url, tmp_path, fake, db):
    # Two workers (two clients, and a second database handle as a second
    # process would have), asking at once with nothing cached: WeChat is asked once.
    other = Database(db_url)
    fake.fail_next("cgi-bin/stable_token", hang=0.3)  # a slow answer widens the race
    a = make_api(db_url, tmp_path, fake, db)
    b = make_api(db_url, tmp_path, fake, other)
    try:
        tokens = await asyncio.gather(*(api.access_token() for api in (a, b, a, b, b)))
        assert len(set(tokens)) == 1 and tokens[0] == fake.current
        assert len(fake.token_requests) == 1
        async with db.engine.connect() as conn:
            row = (await conn.execute(select(KeyValue).where(KeyValue.key == TOKEN_KEY))).one()
        assert row.value == fake.current and row.expires_at is not None
        # A worker started later reads the stored token instead of fetching one.
        c = make_api(db_url, tmp_path, fake, db)
        assert await c.access_token() == tokens[0]
        assert len(fake.token_requests) == 1
    finally:
        for api in (a, b):
            await api.close()
        await other.close()


async def test_send_text_reaches_the_user(db_url, tmp_path, fake, db):
    api = make_api(db_url, tmp_path, fake, db)
    fake.user_wrote("oUser1")
    try:
        await api.send_text("oUser1", "您好，您的问题已办结。")
    finally:
        await api.close()
    assert fake.sent == [{"touser": "oUser1", "content": "您好，您的问题已办结。"}]


@pytest.mark.parametrize("how", ["invalidate", "expire", "40014"])
async def test_refused_token_is_refreshed_and_the_call_retried_once(db_url, tmp_path, fake, db, how):
    api = make_api(db_url, tmp_path, fake, db)
    fake.user_wrote("oUser2")
    try:
        first = await api.access_token()
        if how == "invalidate":
            fake.invalidate_token()  # → 40001
        elif how == "expire":
            fake.expire_token()  # → 42001
        else:
            fake.fail_next("cgi-bin/message/custom/send", errcode=40014, errmsg="invalid access_token")
        await api.send_text("oUser2", "第一条")
        assert len(fake.sent) == 1
        if how != "40014":
            assert fake.current != first and await api.access_token() == fake.current
            assert len(fake.token_requests) == 2
    finally:
        await api.close()


async def test_a_second_worker_uses_the_token_another_refreshed(db_url, tmp_path, fake, db):
    a = make_api(db_url, tmp_path, fake, db)
    b = make_api(db_url, tmp_path, fake, db)
    fake.user_wrote("oUser3")
    try:
        await a.access_token()
        await b.access_token()
        fake.invalidate_token()
        await a.send_text("oUser3", "一")  # a refreshes
        await b.send_text("oUser3", "二")  # b's copy is refused, it picks up a's new token
        assert len(fake.token_requests) == 2
        assert [m["content"] for m in fake.sent] == ["一", "二"]
    finally:
        await a.close()
        await b.close()


async def test_token_refused_twice_is_an_error_not_a_loop(db_url, tmp_path, fake, db):
    api = make_api(db_url, tmp_path, fake, db)
    fake.user_wrote("oUser4")
    fake.fail_next("cgi-bin/message/custom/send", times=2, errcode=40001)
    try:
        with pytest.raises(WeChatApiError) as err:
            await api.send_text("oUser4", "x")
        assert err.value.errcode == 40001
        assert fake.sent == []
    finally:
        await api.close()


async def test_window_errors_are_surfaced(db_url, tmp_path, fake, db):
    api = make_api(db_url, tmp_path, fake, db)
    try:
        with pytest.raises(WeChatApiError) as err:
            await api.send_text("oSilent", "超过48小时")
        assert err.value.errcode == 45015 and not err.value.retryable
        fake.user_wrote("oChatty")
        for i in range(5):
            await api.send_text("oChatty", f"第{i + 1}条")
        with pytest.raises(WeChatApiError) as err:
            await api.send_text("oChatty", "第6条")
        assert err.value.errcode == 45047 and not err.value.retryable
        assert len(fake.sent) == 5
        # Once the user writes again the window reopens.
        fake.user_wrote("oChatty")
        await api.send_text("oChatty", "新窗口")
        assert fake.sent[-1]["content"] == "新窗口"
    finally:
        await api.close()


async def test_timeouts_and_server_errors_are_retryable_errors(db_url, tmp_path, fake, db):
    api = make_api(db_url, tmp_path, fake, db, timeout=aiohttp.ClientTimeout(total=0.5))
    fake.user_wrote("oUser5")
    try:
        await api.access_token()
        fake.fail_next("cgi-bin/message/custom/send", hang=2)
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(WeChatUnavailable) as err:
            await api.send_text("oUser5", "x")
        assert loop.time() - started < 1.5
        assert err.value.retryable and "timeout" in err.value.errmsg
        fake.fail_next("cgi-bin/message/custom/send", http_status=500)
        with pytest.raises(WeChatUnavailable):
            await api.send_text("oUser5", "x")
        fake.fail_next("cgi-bin/message/custom/send", body="not json")
        with pytest.raises(WeChatUnavailable):
            await api.send_text("oUser5", "x")
        fake.fail_next("cgi-bin/message/custom/send", errcode=-1, errmsg="system error")
        with pytest.raises(WeChatApiError) as err:
            await api.send_text("oUser5", "x")
        assert err.value.retryable
        assert fake.sent == []
        await api.send_text("oUser5", "终于成功")
        assert fake.sent == [{"touser": "oUser5", "content": "终于成功"}]
    finally:
        await api.close()


async def test_wrong_secret_is_reported(db_url, tmp_path, fake, db):
    settings = make_settings(db_url, tmp_path, wechat_app_secret="wrong", wechat_api_base=fake.base_url)
    api = WeChatApi(settings, db)
    try:
        with pytest.raises(WeChatApiError) as err:
            await api.access_token()
        assert err.value.errcode == 40125
    finally:
        await api.close()


async def test_menu_create_and_wechat_limits(db_url, tmp_path, fake, db):
    api = make_api(db_url, tmp_path, fake, db)
    menu = {"button": [{"type": "click", "name": "警报试鸣", "key": "SIREN"},
                       {"name": "办事指南", "sub_button": [{"type": "view", "name": "官网", "url": "https://example.gov.cn/"}]}]}
    try:
        await api.create_menu(menu)
        assert fake.menu == menu
        with pytest.raises(WeChatApiError) as err:
            await api.create_menu({"button": [{"type": "click", "name": "一二三四五六", "key": "K"}]})
        assert err.value.errcode == 40018
    finally:
        await api.close()
