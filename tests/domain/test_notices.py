"""WeChat notice values fitted to the template's field types (bot/domain/notices.py)."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from bot.config import DEFAULT_NOTICE_FIELDS, NOTICE_VALUES
from bot.domain import notices
from tests.fake_wechat_api import template_value_problem


def test_every_value_fits_its_type_as_wechat_checks_it():
    values = notices.values_for(number="RX20261203-0001", reply_type="final",
                                title=None, text="小区地下人防工程长期漏水，物业一直推诿不修，\n请尽快处理 <b>急</b>",
                                at=datetime(2026, 12, 3, 7, 5, tzinfo=timezone.utc), tz=ZoneInfo("Asia/Shanghai"))
    assert values["time"] == "2026年12月03日 15:05" and values["status"] == "已答复"
    for name, key in {**DEFAULT_NOTICE_FIELDS, "number": "number9", "status": "phrase2"}.items():
        fitted = notices.fit(key, values[name])
        assert template_value_problem(key, fitted) is None, (key, fitted)
    assert notices.fit("thing3", "一二三四五六七八九十一二三四五六七八九十超出") == "一二三四五六七八九十一二三四五六七八九…"
    assert notices.fit("character_string1", "RX 2026-中文") == "RX2026-"
    assert notices.fit("phrase2", "已答复 ok") == "已答复"


def test_the_configuration_and_the_domain_know_the_same_values():
    assert set(NOTICE_VALUES) == set(notices.NOTICE_VALUES) == set(DEFAULT_NOTICE_FIELDS)


def test_the_link_leads_to_the_case_on_the_public_site():
    assert notices.track_link("https://a.example.cn/", "RX1", "ABCD2345") == \
        "https://a.example.cn/track?number=RX1&code=ABCD2345"
    assert notices.track_link(None, "RX1", "ABCD2345") is None
