"""The fast engine (jieba-rs) cuts exactly as jieba does, user dictionary included."""

import csv

import pytest

from nlp import segment


@pytest.fixture(scope="module")
def engines():
    pytest.importorskip("rjieba")
    return segment.make_engine("jieba-rs"), segment.make_engine("jieba")


def _texts(*paths):
    out = []
    for path in paths:
        with open(path, encoding="utf-8") as fh:
            out += [row["text"] for row in csv.DictReader(fh)]
    return out


def test_the_server_uses_the_fast_engine():
    pytest.importorskip("rjieba")
    assert segment.init().name == "jieba-rs"


def test_same_cuts_as_jieba_on_the_labelled_messages(engines, dev_csv, fresh_csv):
    fast, ref = engines
    texts = _texts(dev_csv, *(fresh_csv.with_name(n) for n in ("fresh_voices.csv", "heldout_voices2.csv",
                                                                "heldout_voices3.csv")))
    assert len(texts) > 350
    exact = 0
    for text in texts:
        a, b = fast.words(text), ref.words(text)
        exact += a == b
        # Where two cuts score exactly the same ("喂喂喂": 喂|喂喂 or 喂喂|喂) the
        # engines break the tie differently: the same words, in another order.
        assert sorted(a) == sorted(b), text
        assert sorted(fast.search_words(text)) == sorted(ref.search_words(text)), text
    assert exact >= len(texts) - 3


def test_user_dictionary_words_stay_whole(engines):
    for engine in engines:
        assert "人防车位" in engine.words("请问人防车位可以买卖吗")
        assert "易地建设费" in engine.words("易地建设费怎么缴纳")
        # search mode adds the parts of a long word
        assert {"人防车位", "车位"} <= set(engine.search_words("人防车位能买吗"))


def test_is_word_agrees(engines, dev_csv):
    fast, ref = engines
    grams = {text[i:i + k] for text in _texts(dev_csv)[:80] for i in range(len(text)) for k in (1, 2, 3, 4)}
    assert {g for g in grams if fast.is_word(g)} == {g for g in grams if ref.is_word(g)}
    assert fast.is_word("人防工程") and not fast.is_word("人防工")  # a prefix is not a word


def test_odd_input(engines):
    for engine in engines:
        assert engine.words("") == []
        assert "".join(engine.words("ＡＢＣ 😀😀 繁體字 mixed English")) == "ＡＢＣ 😀😀 繁體字 mixed English"
