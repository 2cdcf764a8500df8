"""`查询` as rules: which texts are the command, and replies that fit WeChat."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from bot.domain import own_cases as own

TZ = ZoneInfo("Asia/Shanghai")
AT = datetime(2026, 1, 5, 2, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("text, number, well_formed", [
    ("查询", None, True), (" 查询 ", None, True), ("查询 WX20260105-0001", "WX20260105-0001", True),
    ("查询wx20260105-0001", "WX20260105-0001", True), ("查询：ＷＸ20260105-0001", "WX20260105-0001", True),
    ("查询 abc", "ABC", False), ("查询 <script>", "<SCRIPT>", False), ("查询 WX2026", "WX2026", False),
])
def test_the_command(text, number, well_formed):
    assert own.parse(text) == own.Query(number, well_formed)


@pytest.mark.parametrize("text", ["查询一下人防车位", "我想查询进度", "请问怎么查询", "查询 " + "9" * 65])
def test_texts_that_are_not_the_command(text):
    assert own.parse(text) is None


def test_the_list_names_number_status_kind_and_day():
    text = own.list_text([own.CaseLine("WX20260105-0002", "in_progress", "complaint", AT)], TZ)
    assert "WX20260105-0002 办理中（投诉，2026年1月5日受理）" in text


def test_the_newest_replies_are_kept_and_the_text_fits_wechat():
    replies = [own.Reply(f"第{i}次答复：" + "经核查，" * 150, AT + timedelta(days=i)) for i in range(5)]
    text = own.detail_text(own.CaseDetail("WX20260105-0001", "answered", "complaint", AT, AT + timedelta(days=20),
                                          AT + timedelta(days=4), replies), TZ)
    assert len(text.encode()) <= own.MAX_REPLY_BYTES
    assert "第4次答复" in text and "第0次答复" not in text and own.CUT in text
    assert "答复日期：2026年1月9日" in text and "办理期限" not in text


def test_a_single_reply_too_long_is_cut():
    text = own.detail_text(own.CaseDetail("WX20260105-0001", "new", "help", AT, None, None,
                                          [own.Reply("很长" * 2000, AT)]), TZ)
    assert len(text.encode()) <= own.MAX_REPLY_BYTES and text.endswith(own.CUT)
