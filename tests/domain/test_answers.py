"""The knowledge-base rules, keyword rules and menu checks (pure domain)."""

from __future__ import annotations

from datetime import date

import pytest

from bot.domain.answers import (
    AnswersError,
    auto_reply_text,
    check_against,
    check_set,
    first_rule,
    make_entry,
    make_rule,
    menu_click_keys,
    validate_menu,
)
from bot.exports.documents import read_document

SIREN = {"key": "siren-2026", "questions": ["今天几点拉警报", "刚才的警报是怎么回事"], "topic": "siren",
         "answer": "今天10:00试鸣。", "valid_from": "2026-09-17", "valid_to": "2026-09-18"}


def test_entry_is_read_and_dates_are_days():
    e = make_entry(SIREN)
    assert e.questions == ("今天几点拉警报", "刚才的警报是怎么回事")
    assert (e.valid_from, e.valid_to) == (date(2026, 9, 17), date(2026, 9, 18))
    assert not e.valid_on(date(2026, 9, 16)) and e.valid_on(date(2026, 9, 17)) and e.valid_on(date(2026, 9, 18))
    assert not e.valid_on(date(2026, 9, 19))


@pytest.mark.parametrize("change,field,words", [
    ({"answer": "   "}, "answer", "答案不能为空"),
    ({"answer": None}, "answer", "答案不能为空"),
    ({"questions": []}, "questions", "至少"),
    ({"questions": ["好", "  "]}, "questions[1]", "为空"),
    ({"key": "有 空格"}, "key", "key"),
    ({"topic": "weather"}, "topic", "topic"),
    ({"valid_from": "2026-09-18", "valid_to": "2026-09-17"}, "valid_to", "早于"),
    ({"valid_to": "18/9/2026"}, "valid_to", "日期"),
    ({"needs_person": "yes"}, "needs_person", "true"),
    ({"answer": "很长" * 400}, "answer", "过长"),
])
def test_bad_entries_are_refused_with_a_reason(change, field, words):
    with pytest.raises(AnswersError) as err:
        make_entry({**SIREN, **change})
    assert err.value.field == field and words in err.value.message


def test_overlapping_validity_for_the_same_question_is_refused():
    siren_2026 = make_entry(SIREN)
    overlapping = make_entry({**SIREN, "key": "siren-2026-b", "valid_from": "2026-09-18", "valid_to": "2026-09-20"})
    with pytest.raises(AnswersError) as err:
        check_against(overlapping, [siren_2026])
    assert "今天几点拉警报" in err.value.message and "siren-2026" in err.value.message and "重叠" in err.value.message
    # An undated entry is valid every day, so it overlaps too.
    standing = make_entry({**SIREN, "key": "siren-always", "valid_from": None, "valid_to": None})
    with pytest.raises(AnswersError):
        check_against(standing, [siren_2026])
    # Next year's notice with the same wording is fine; so is another wording.
    check_against(make_entry({**SIREN, "key": "siren-2027", "valid_from": "2027-09-17", "valid_to": "2027-09-18"}),
                  [siren_2026])
    check_against(make_entry({**SIREN, "key": "other", "questions": ["警报有几种"], "valid_from": None,
                              "valid_to": None}), [siren_2026])
    # Wordings are compared as a citizen would type them: full-width, punctuation.
    with pytest.raises(AnswersError):
        check_against(make_entry({**SIREN, "key": "x", "questions": ["今天几点拉警报？ "]}), [siren_2026])
    # An inactive entry answers nothing, so it does not block.
    check_against(overlapping, [make_entry({**SIREN, "active": False})])


def test_a_whole_file_is_checked_as_a_set():
    a = make_entry(SIREN)
    with pytest.raises(AnswersError) as err:
        check_set([a, make_entry({**SIREN, "questions": ["别的问法"]})])
    assert "重复" in err.value.message and err.value.field == "entries[1].key"
    with pytest.raises(AnswersError) as err:
        check_set([a, make_entry({**SIREN, "key": "b"})])
    assert err.value.field == "entries[0].valid_from"


def test_starter_knowledge_base_is_valid():
    from bot.domain.answers import make_entry as mk

    doc = read_document("deploy/knowledge_base.yaml")
    entries = [mk(d) for d in doc["entries"]]
    check_set(entries)
    assert {"siren-test-day", "siren-general", "parking-sale", "disclosure-howto", "office-hours",
            "fee-basics"} <= {e.key for e in entries}
    rules = [make_rule(r) for r in doc["rules"]]
    assert first_rule(rules, "我要转人工").pattern == "人工"
    menu = validate_menu(read_document("deploy/wechat_menu.yaml"), known_keys={e.key for e in entries})
    # Every button is answered: from the knowledge base, or by the account itself (查询).
    from bot.domain.answers import COMMAND_KEYS
    assert set(menu_click_keys(menu)) <= {e.key for e in entries} | COMMAND_KEYS
    assert "my-cases" in menu_click_keys(menu)


def test_keyword_rules():
    exact = make_rule({"match": "exact", "pattern": "帮助", "reply": "帮助内容"})
    contains = make_rule({"match": "contains", "pattern": "人工", "reply": "人工服务"})
    regex = make_rule({"match": "regex", "pattern": r"^\d{11}$", "reply": "请不要只发电话号码"})
    assert exact.matches("帮助！") and exact.matches(" 帮助 ") and not exact.matches("需要帮助")
    assert contains.matches("转人工服务") and not contains.matches("人防")
    assert regex.matches("13800001234") and not regex.matches("电话13800001234")
    # exact rules are tried first, then the rest in order
    assert first_rule([contains, exact], "帮助").reply == "帮助内容"
    assert first_rule([contains, regex], "你好") is None
    inactive = make_rule({"match": "contains", "pattern": "人工", "reply": "x", "active": False})
    assert first_rule([inactive], "人工") is None


@pytest.mark.parametrize("data,field,words", [
    ({"match": "fuzzy", "pattern": "x", "reply": "y"}, "match", "exact"),
    ({"match": "regex", "pattern": "([", "reply": "y"}, "pattern", "正则"),
    ({"match": "regex", "pattern": "a*", "reply": "y"}, "pattern", "空消息"),
    ({"match": "contains", "pattern": "？？", "reply": "y"}, "pattern", "标点"),
    ({"match": "contains", "pattern": "人工", "reply": ""}, "reply", "不能为空"),
])
def test_bad_rules_are_refused(data, field, words):
    with pytest.raises(AnswersError) as err:
        make_rule(data)
    assert err.value.field == field and words in err.value.message


GOOD_MENU = {"button": [
    {"type": "click", "name": "警报试鸣", "key": "siren"},
    {"name": "常见问题", "sub_button": [{"type": "click", "name": "人防车位能否买卖", "key": "parking"},
                                    {"type": "view", "name": "官网", "url": "https://rfb.example.gov.cn/"}]},
]}


def test_menu_is_checked_against_wechat_limits():
    assert validate_menu(GOOD_MENU) == GOOD_MENU
    four = {"button": [{"type": "click", "name": f"菜单{i}", "key": f"k{i}"} for i in range(4)]}
    with pytest.raises(AnswersError) as err:
        validate_menu(four)
    assert "最多 3" in err.value.message
    six_subs = {"button": [{"name": "多", "sub_button": [{"type": "click", "name": f"子{i}", "key": f"k{i}"}
                                                        for i in range(6)]}]}
    with pytest.raises(AnswersError) as err:
        validate_menu(six_subs)
    assert "「多」" in err.value.message and "最多 5" in err.value.message


@pytest.mark.parametrize("mutate,field,words", [
    (lambda m: m["button"][0].update(name="防空警报试鸣通知"), "button[0].name", "第1个菜单「防空警报试鸣通知」"),  # 24 bytes
    (lambda m: m["button"][1]["sub_button"][0].update(name="人" * 21), "button[1].sub_button[0].name", "第1个子菜单"),
    (lambda m: m["button"][1]["sub_button"][1].update(url="ftp://x"), "button[1].sub_button[1].url", "「官网」"),
    (lambda m: m["button"][0].pop("key"), "button[0].key", "需要 key"),
    (lambda m: m["button"][0].update(type="miniprogram"), "button[0].type", "click 或 view"),
    (lambda m: m["button"][1]["sub_button"].__setitem__(0, "oops"), "button[1].sub_button[0]", "对象"),
])
def test_a_bad_menu_item_is_named(mutate, field, words):
    import copy

    menu = copy.deepcopy(GOOD_MENU)
    mutate(menu)
    with pytest.raises(AnswersError) as err:
        validate_menu(menu)
    assert err.value.field == field and words in err.value.message


def test_menu_click_keys_must_be_entries_when_asked():
    with pytest.raises(AnswersError) as err:
        validate_menu(GOOD_MENU, known_keys={"siren"})
    assert "parking" in err.value.message and err.value.field == "button[1].sub_button[0].key"


def test_auto_reply_says_what_happens_next():
    settled = auto_reply_text("答案。", "WX20260918-0001", needs_person=False, days=3, joined=False)
    assert settled.startswith("答案。") and "WX20260918-0001" in settled and "如以上答复未能解决" in settled
    person = auto_reply_text("答案。", "WX20260918-0002", needs_person=True, days=3, joined=False)
    assert "3个工作日内跟进" in person


def test_blanks_in_an_answer_hold_the_entry_back_until_filled_or_allowed():
    from bot.domain.answers import entry_data, placeholders_in

    assert placeholders_in("租期一般不超过【3】年。电话：【请填写电话】") == ["【3】", "【请填写电话】"]
    assert placeholders_in("没有空白") == []
    base = {"key": "k", "questions": ["问"], "answer": "电话：【请填写电话】"}
    held = make_entry(base)
    assert held.placeholders == ["【请填写电话】"] and held.held_back
    allowed = make_entry({**base, "placeholders_allowed": True})
    assert allowed.placeholders and not allowed.held_back
    assert entry_data(allowed)["placeholders_allowed"] is True
    assert "placeholders_allowed" not in entry_data(held)
    assert make_entry(entry_data(allowed)) == allowed  # an export imports back the same
    assert not make_entry({**base, "answer": "电话：0571-12345"}).held_back
    with pytest.raises(AnswersError) as exc:
        make_entry({**base, "placeholders_allowed": "yes"})
    assert exc.value.field == "placeholders_allowed"
