"""The packed fixed-point scoring equals the plain linear model it replaces,
and the model explains itself when no rule decided."""

import json
import math
import random

import pytest

from nlp.labels import Classification
from nlp.classifier import OfficeClassifier
from nlp.model import LinearModel
from nlp.rules import Rules
from nlp.textnorm import normalize
from nlp.training import train

ROWS = [(t, {"kind": k, "topic": p}) for t, k, p in [
    ("请问人防车位怎么租", "consultation", "parking"), ("人防车位租金多少", "consultation", "parking"),
    ("举报物业卖人防车位", "report", "parking"), ("有人私自占用地下室", "report", "shelter"),
    ("地下室漏水没人管", "complaint", "shelter"), ("警报太吵了没人管", "complaint", "siren"),
    ("警报几点响", "consultation", "siren"), ("防空洞在哪里", "consultation", "shelter"),
]] * 2


def naive_scores(model: LinearModel, norm: str) -> list[float]:
    feats = model.features(norm)
    acc = [0.0] * model.width
    norm2 = 0.0
    for f in feats:
        w = model.weights.get(f)
        idf = (w[-1] if w is not None else model.idf_unseen) if model.use_idf else 1.0
        norm2 += idf * idf
        if w is not None:
            for j in range(model.width):
                acc[j] += w[j] * idf
    k = 1.0 / math.sqrt(norm2) if (model.scale == "l2" and norm2) else 1.0
    return [b + k * a for b, a in zip(model.bias, acc)]


@pytest.mark.parametrize("tfidf", [False, True])
def test_packed_scores_equal_the_plain_sum(tfidf):
    model = LinearModel(train(ROWS, ["kind", "topic"], tfidf=tfidf))
    rng = random.Random(0)
    texts = [t for t, _ in ROWS] + ["", "🙂", "完全陌生的句子", "人防" * 1500,
                                    "".join(rng.choice("人防车位警报漏水举报请问地下室 123") for _ in range(300))]
    for t in texts:
        n = normalize(t)
        got, want = model.raw_scores(n), naive_scores(model, n)
        assert max(abs(a - b) for a, b in zip(got, want)) < 1e-3, t


def test_model_gives_why_words_when_no_rule_fires():
    rules = Rules({})  # no rules at all: every decision is the model's
    model = LinearModel(train(ROWS, ["kind", "topic"]))
    clf = OfficeClassifier(rules, model)
    c = clf.classify("人防车位能租吗")
    assert isinstance(c, Classification) and c.source == "model"
    assert c.topic == "parking"
    assert c.matched, c
    assert any(w in ("车位", "人防车位", "人防") for w in c.matched), c.matched
    assert all(len(w) >= 2 for w in c.matched)


def test_shipped_classifier_explains_model_decisions(clf):
    # no topic cue in the rules file; the topic comes from the model
    c = clf.classify("关于我们单位那个事情的进展")
    # a vague message: a sensible kind, or whatever kind but sent to a person
    assert c.kind in ("consultation", "complaint", "other", "help") or c.needs_review, c
    assert c.source == "model" and c.matched, c
    for w in c.matched:
        assert w.strip() and len(w) >= 1


def test_batch_scores_equal_one_by_one():
    model = LinearModel(train(ROWS, ["kind", "topic"]))
    rng = random.Random(1)
    texts = [t for t, _ in ROWS] + ["", " ", "🙂 a", "人防" * 1500, "車位 12 號"] + [
        "".join(rng.choice("人防车位警报漏水举报请问地下室 123ab") for _ in range(rng.randrange(0, 40))) for _ in range(300)]
    norms = [normalize(t) for t in texts]
    assert model.scores_batch(norms) == [model.raw_scores(n) for n in norms]
    assert model.scores_batch(["a\x00b", "c"]) is None  # NUL: one by one


def test_batch_scores_with_many_characters_the_model_never_saw():
    # thousands of distinct unseen characters widen the batch's character ids
    model = LinearModel(train(ROWS, ["kind", "topic"]))
    rng = random.Random(2)
    rare = [chr(c) for c in range(0x4E00, 0x4E00 + 6000)] + [chr(c) for c in range(0x20000, 0x20400)]
    texts = ["".join(rng.choice(rare + list("人防车位警报 ")) for _ in range(rng.randrange(1, 30))) for _ in range(800)]
    norms = [normalize(t) for t in texts]
    assert model.scores_batch(norms) == [model.raw_scores(n) for n in norms]
    raw, rows, bounds = model.scores_batch(norms, with_rows=True)
    for i, n in enumerate(norms):
        known = {model_row for f, model_row in zip(model.weights, range(1, len(model.weights) + 1))
                 if f in model.features(n)}
        assert sorted(rows[bounds[i]:bounds[i + 1]].tolist()) == sorted(known)



def test_json_lines_equal_json_dumps_of_classify(clf):
    import json

    texts = ["请问人防车位能买吗", "在吗", "", "🙂", "关于我们单位那个事情的进展", 'say "hi"\\ 举报', "人防" * 400]
    lines = clf.classify_json(texts)
    assert lines == [json.dumps(clf.classify(t).as_dict(), ensure_ascii=False) for t in texts]
    assert clf.classify_json(texts, hint_kind="投诉") == [
        json.dumps(clf.classify(t, hint_kind="投诉").as_dict(), ensure_ascii=False) for t in texts]


def test_batch_path_equals_one_by_one(clf, fresh_csv):
    import csv
    import json

    with fresh_csv.open(encoding="utf-8", newline="") as f:
        texts = [r["text"] for r in csv.DictReader(f)]
    texts += ["在吗", "", "🙂", "不是投诉，就是想问问", "想投诉物业 应该找哪个部门", "举报举报", "hello", "人防" * 300,
              # greetings as the whole text, with emoji (beyond the BMP), spaces and punctuation around them
              "你好😀😀😀😀", "在 吗 ？", "hello!!!", "１１１１１", "好的，谢谢啦～～", "你好呀" + "！" * 22, "你好呀" + "！" * 22 + "?",
              # traditional, full-width, a character NFKC makes eighteen
              "請問人防車位費用？", "ＡＢＣ１２３ 投訴", "\ufdfa" * 200,
              # a giving verb and a document near each other, and far apart (the together rule's `within`)
              "请把那份审批文件发我一份", "开发商没有提供说明" + "，那天" * 30 + "我们看到了合同",
              # two requests in one, cut at a marker; a marker at the very start or end cuts nothing
              "物业乱涨人防车位租金，请你们管一管。另外请把租金的核定文件发我一份。", "另外请把文件发我", "请问车位能买吗还有",
              "建议多搞演练。also, send me the plan", "另外" * 120]
    norms = [normalize(t) for t in texts]
    cores = clf._batch_cores(norms)
    assert cores is not None
    assert cores == [clf._core_norm(n, None) for n in norms]
    # and end to end, from the raw texts to the JSON lines (a lone surrogate sends its chunk one by one)
    for batch in (texts, texts + ["\ud800 車位"]):
        assert clf.classify_json(batch) == [json.dumps(clf.classify(t).as_dict(), ensure_ascii=False) for t in batch]
    assert clf.rules.score_batch(["a\x00b", "c"]) is None  # NUL: one by one


def test_batch_scores_of_a_model_with_huge_weights():
    # weights so large that a text's sum could pass 2**53: summed as int64, still exact
    data = train(ROWS, ["kind", "topic"])
    data["weights"] = {f: [round(x * 1e9, 4) for x in w] for f, w in data["weights"].items()}
    model = LinearModel(data)
    norms = [normalize(t) for t, _ in ROWS] + ["人防车位 警报", "完全陌生的句子"]
    assert model.scores_batch(norms) == [model.raw_scores(n) for n in norms]
    assert model._batch[2].dtype.kind == "i"


def test_a_model_carries_the_weight_of_the_rules_beside_it():
    """A model trained on many messages is used with lighter rules: the
    classifier takes each head's weight from the model file, and an explicit
    weight still overrides it."""
    rules = Rules.load()
    plain = train(ROWS, ["kind", "topic"])
    light = train(ROWS, ["kind", "topic"], rule_weights={"kind": 0.05, "topic": 2.0})
    assert "rule_weight" not in plain["heads"]["kind"]
    assert light["heads"]["kind"]["rule_weight"] == 0.05
    assert OfficeClassifier(rules, LinearModel(plain)).rule_weight == {"kind": 0.5, "topic": 0.5}
    clf = OfficeClassifier(rules, LinearModel(light))
    assert clf.rule_weight == {"kind": 0.05, "topic": 2.0}
    assert OfficeClassifier(rules, LinearModel(light), rule_weight=0.3).rule_weight == {"kind": 0.3, "topic": 0.3}
    # the rules' share of a decision follows the weight: the rules' report cue
    # 举报 decides at 0.5; at 0.05 the model's question (几点响) does
    text = "举报 警报几点响"
    assert OfficeClassifier(rules, LinearModel(plain)).classify(text).kind == "report"
    assert clf.classify(text).kind == "consultation"
    # and the batch path weighs them the same way
    texts = [t for t, _ in ROWS] + [text, "请问人防车位多少钱 我要投诉", "在吗"]
    assert clf.classify_json(texts) == [json.dumps(clf.classify(t).as_dict(), ensure_ascii=False) for t in texts]


@pytest.mark.parametrize("bad", ["0.1", -1, float("nan"), True, 1e9])
def test_a_model_file_with_a_bad_rule_weight_is_refused(bad):
    from nlp.model import ModelError

    data = train(ROWS, ["kind", "topic"])
    data["heads"]["kind"]["rule_weight"] = bad
    with pytest.raises(ModelError, match="rule_weight"):
        LinearModel(data)
