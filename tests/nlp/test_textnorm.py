"""The batch normaliser gives what ``normalize`` gives each text."""

import random
import unicodedata

import pytest

from nlp import textnorm
from nlp.textnorm import normalize, normalize_many


def test_normalize_many_equals_normalize_of_each():
    rng = random.Random(3)
    # final sigma, combining marks and Hangul jamo at a text's edges, wide
    # forms, compatibility ideographs, traditional characters, spaces of all kinds
    alphabet = ("ΣσςΑ İIıi\u0301\u0308\u0323e\u1100\u1161\u11a8\uac00 \u3000\t\n\xa0ａＢ１２３車費報人防车位"
                "，。！？ﬁ㎡①\u200b\u2028\uf900\uf9a8\U0001F600_-")
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 12))) for _ in range(5000)]
    texts += ["", " ", "ΑΣ", "ΑΣ ", "Σ", "\u0301", "車" * 2500, "ａ" * 2500, "请问人防车位能买吗？"]
    for k in range(0, len(texts), 37):
        chunk = texts[k : k + 37]
        assert normalize_many(chunk) == [normalize(t) for t in chunk], chunk


def test_normalize_many_goes_one_by_one_where_it_must():
    assert normalize_many(["a\x00b", " C "]) == ["a\x00b", "c"]  # a NUL of its own
    assert normalize_many(["\ud800 車", "Ｂ"]) == ["\ud800 车", "b"]  # a lone surrogate cannot be encoded
    assert normalize_many([]) == []


@pytest.mark.skipif(textnorm.read_unstable_file()[0] != unicodedata.unidata_version,
                    reason="nfkc_unstable.txt is of another Unicode version (the batch path then works the table out at start)")
def test_unstable_file_is_this_unicode_database():
    # regenerate with: python -c "from nlp.textnorm import write_unstable_file; write_unstable_file()"
    assert textnorm.read_unstable_file()[1] == textnorm.unstable_ranges()


def test_a_text_nfkc_makes_longer_is_cut_the_same_way():
    # U+FDFA becomes 18 characters: the normalised text is cut to MAX_CHARS again
    texts = ["\ufdfa" * 1500, "车" * 1999 + "\ufdfa", "a " * 1999 + "\ufdfa"]
    assert [len(n) <= textnorm.MAX_CHARS for n in normalize_many(texts)] == [True] * 3
    assert normalize_many(texts) == [normalize(t) for t in texts]


def test_normalize_many_without_the_unstable_table(monkeypatch):
    monkeypatch.setattr(textnorm, "_MARKS", [None])  # a file of another Unicode version
    texts = ["請問　人防車位？", "e\u0301", "ＡＢ"]
    assert normalize_many(texts) == [normalize(t) for t in texts] == ["请问 人防车位?", "é", "ab"]


def test_substance_counts_characters_and_latin_words():
    from nlp.textnorm import substance

    assert substance(normalize("在吗")) == 2
    assert substance(normalize("hello!!!")) == 1
    assert substance(normalize("qing wen renfang chewei")) == 4
    assert substance(normalize("Ｈｅｌｌｏ 人防")) == 3  # full-width letters are normalised first
    assert substance(normalize("a 1 2 3 ? 🙂")) == 0
