"""The disclosure dialog's rules: what stops it, what a name, a contact and
a form of delivery look like."""

from __future__ import annotations

import pytest

from bot.domain import dialog


@pytest.mark.parametrize("text", ["算了", "算了，不办了", "不办了", "不用了", "取消", "退出", "  退出。", "算了吧",
                                  "我不申请了", "不用了谢谢", "ＱＱ取消"[2:], "那就算了"])
def test_plain_ways_of_stopping(text):
    assert dialog.is_stop(text)


@pytest.mark.parametrize("text", ["取消政策文件", "退出机制的文件", "王算了", "2023年人防工程退出使用的批复", "",
                                  "张三", "13712345678", "算了" * 10])
def test_answers_that_mention_a_stop_word_are_not_a_stop(text):
    assert not dialog.is_stop(text)


@pytest.mark.parametrize("text", ["为什么要我的名字？我只是想看看", "你要名字干嘛", "必须写吗"])
def test_a_question_instead_of_a_name_is_explained_and_asked_again(text):
    data: dict = {}
    step, reply = dialog.advance("name", text, data)
    assert step == "name" and "第二十九条" in reply and "例如" in reply and data == {}


@pytest.mark.parametrize("text", ["###", "☺☺", "<b>", "12345", "名" * 101])
def test_what_does_not_look_like_a_name_is_asked_again_with_an_example(text):
    data: dict = {}
    step, reply = dialog.advance("name", text, data)
    assert step == "name" and "例如" in reply and data == {}


@pytest.mark.parametrize("text", ["王小明", "阿依古丽·买买提", "某某建设有限公司（第一分公司）", "John Smith"])
def test_names_of_people_and_organisations(text):
    data: dict = {}
    assert dialog.advance("name", text, data)[0] == "contact" and data["name"] == text


@pytest.mark.parametrize("text, stored", [("137 1234 5678", "13712345678"), ("+86 137-1234-5678", "13712345678"),
                                          ("010-12345678", "01012345678"), ("a.b@example.com", "a.b@example.com"),
                                          ("１３７１２３４５６７８", "13712345678")])
def test_contacts(text, stored):
    data: dict = {}
    assert dialog.advance("contact", text, data)[0] == "info" and data["contact"] == stored


@pytest.mark.parametrize("text", ["不告诉你", "12345", "为什么要电话？", "a@b"])
def test_what_is_not_a_phone_or_email_is_asked_again_with_an_example(text):
    data: dict = {}
    step, reply = dialog.advance("contact", text, data)
    assert step == "contact" and "例如" in reply and data == {}


@pytest.mark.parametrize("text, form", [("2", "电子邮件"), ("邮寄", "纸质文本（邮寄）"), ("发到邮箱吧", "电子邮件"),
                                        ("当面领取", "当面领取"), ("4。", "当面领取")])
def test_forms_of_delivery(text, form):
    data: dict = {}
    assert dialog.advance("form", text, data) == ("done", "") and data["form"] == form


@pytest.mark.parametrize("text", ["5", "随便", "哪种最快？"])
def test_an_unknown_form_is_asked_again(text):
    assert dialog.advance("form", text, {})[0] == "form"


def test_the_first_reply_carries_the_case_number_and_fits_wechat():
    text = dialog.intro_text("WX20260105-0001")
    assert "WX20260105-0001" in text and "第1步" in text and len(text.encode()) < 2000
