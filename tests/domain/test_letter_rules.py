"""The letter box's rules: what a letter must be, and the redaction of what
/letters publishes."""

from __future__ import annotations

import pytest

from bot.domain.errors import InvalidInput
from bot.domain.letters import publication, read_edit, read_letter
from bot.domain.masking import redact_text

OK = {"name": "张三", "phone": "138 1234 5678", "title": "  车位  问题 ", "content": "第一行\r\n第二行\r\n", "publish": None}


def test_a_letter_is_read_cleaned_and_consent_is_optional():
    letter = read_letter(**OK)
    assert (letter.name, letter.phone, letter.title, letter.content) == ("张三", "13812345678", "车位 问题", "第一行\n第二行")
    assert letter.publish is False  # an unticked box sends nothing: do not publish
    assert read_letter(**{**OK, "publish": "1"}).publish is True
    assert read_letter(**{**OK, "publish": "0"}).publish is False
    assert read_letter(**{**OK, "phone": "+86 138-1234-5678"}).phone == "13812345678"
    assert read_letter(**{**OK, "phone": "(028) 8612-3456"}).phone == "02886123456"


@pytest.mark.parametrize("change, field", [
    ({"name": ""}, "name"), ({"name": "名" * 51}, "name"), ({"phone": "123"}, "phone"),
    ({"phone": "电话13812345678"}, "phone"), ({"title": " "}, "title"), ({"title": "题" * 201}, "title"),
    ({"content": ""}, "content"), ({"content": "字" * 5001}, "content"), ({"content": "a\x00b"}, "content"),
    ({"title": "a\x07b"}, "title"), ({"content": None}, "content"), ({"content": ["list"]}, "content"),
])
def test_a_bad_field_is_refused_with_its_name(change, field):
    with pytest.raises(InvalidInput) as exc:
        read_letter(**{**OK, **change})
    assert exc.value.field == field


def test_exactly_the_limits_are_accepted():
    assert len(read_letter(**{**OK, "content": "字" * 5000, "title": "题" * 200}).content) == 5000


def test_redaction_removes_phones_ids_emails_and_names_entirely():
    text = ("我叫张三，手机13812345678、+86 139-1234-5678，座机(028)86123456，身份证51010419900101123X，"
            "旧号码１３７１２３４５６７８，邮箱 zhang.san@mail.example.cn。张先生反映2024-05-01的车位问题，共3个车位。")
    out = redact_text(text, ["张三"])
    for gone in ("张三", "13812345678", "139-1234-5678", "86123456", "51010419900101123X", "１３７１２３４５６７８",
                 "zhang.san", "张先生"):
        assert gone not in out, gone
    assert "2024-05-01" in out and "3个车位" in out and "*先生反映" in out


def test_redaction_finds_names_after_markers_and_compound_surnames():
    assert redact_text("联系人：王小明，姓名:李四") == "联系人：***，姓名:***"
    assert redact_text("我叫了物业三次") == "我叫了物业三次"  # 我叫 is not always a name
    assert redact_text("欧阳娜娜，欧阳女士您好", ["欧阳娜娜"]) == "***，*女士您好"
    assert redact_text("王老师说", ["王"]) == "王老师说"  # a one-character "name" would eat the text


def test_staff_edits_replace_the_automatic_redaction_and_unchanged_text_stays_automatic():
    auto = publication(title="张三的信", letter="我是张三", answer="张三您好", writer_names=("张三",))
    assert auto.title == "***的信" and auto.answer == "***您好"
    edited = publication(title="t", letter="l", answer="a", writer_names=(), edited_answer="人工修改")
    assert (edited.title, edited.answer) == ("t", "人工修改")
    assert read_edit("  ***的信 ", "published_title", "标题", 200, "***的信") is None
    assert read_edit("", "published_title", "标题", 200, "***的信") is None
    assert read_edit("新标题", "published_title", "标题", 200, "***的信") == "新标题"
    with pytest.raises(InvalidInput):
        read_edit("a\x00", "published_title", "标题", 200, "")
