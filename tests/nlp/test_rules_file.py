import pytest

from nlp.rules import Rules, RulesError
from nlp.textnorm import normalize


def test_rules_file_is_editable_and_validated():
    r = Rules({"kinds": {"praise": {"cues": {5: ["好评"]}}}})
    assert r.score(normalize("好评")).kind_scores["praise"] == 5
    with pytest.raises(RulesError, match="unknown kind"):
        Rules({"kinds": {"praize": {"cues": {1: ["x"]}}}})


def test_negation_hides_the_cue_it_contains():
    r = Rules({"kinds": {"complaint": {"cues": {6: ["投诉"]}}},
               "negations": [{"phrases": ["不是投诉"], "moves": {"complaint": -6, "consultation": 2}}]})
    s = r.score(normalize("不是投诉，就是想问问")).kind_scores
    assert s["complaint"] < 0 < s["consultation"]


def test_together_needs_every_group():
    r = Rules({"kinds": {"disclosure_request": {"together": [
        {"name": "x", "weight": 8, "groups": [["提供"], ["备案表"]]}]}}})
    assert r.score("请提供备案表").kind_scores["disclosure_request"] == 8
    assert r.score("公开一下").kind_scores["disclosure_request"] == 0


def test_together_within_a_stretch_of_text():
    r = Rules({"kinds": {"disclosure_request": {"together": [
        {"name": "x", "weight": 8, "within": 10, "groups": [["提供"], ["备案表", "表"]]}]}}})

    def score(text):
        return r.score(normalize(text)).kind_scores["disclosure_request"]

    assert score("请提供备案表") == 8
    assert score("备案表请你们提供") == 8  # either order
    # 备案表 is far from 提供, but another phrase of its group is near
    assert score("备案表的事" + "，" * 20 + "请提供一下那张表") == 8
    # a long letter that says 提供 here and 备案表 far on asks for nothing
    far = "开发商没有提供任何说明" + "，" * 30 + "后来我们才看到了备案表"
    assert score(far) == 0
    assert r.score_batch([normalize(t) for t in ("请提供备案表", far)]).kind[:, 6].tolist() == [8.0, 0.0]


@pytest.mark.parametrize("within", [0, -3, 2.5, "20", True, 10**6])
def test_together_within_must_be_a_whole_number_of_characters(within):
    with pytest.raises(RulesError, match="within"):
        Rules({"kinds": {"disclosure_request": {"together": [
            {"name": "x", "within": within, "groups": [["提供"], ["表"]]}]}}})


def test_automaton_and_python_scan_find_the_same_hits(fresh_csv):
    import csv

    fast, slow = Rules.load(), Rules.load()
    slow._ac = None  # as without ahocorasick_rs
    with fresh_csv.open(encoding="utf-8", newline="") as f:
        texts = [r["text"] for r in csv.DictReader(f)]
    texts += ["不是投诉，就是想问问", "人防车位车位租金", "", "在吗", "举报举报举报"]
    for t in texts:
        n = normalize(t)
        assert fast.hits(n) == slow.hits(n), t
        assert fast.score(n) == slow.score(n), t
