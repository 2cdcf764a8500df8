"""Matching a citizen's question to a knowledge-base entry.

Each wording of each entry is a small document; a question is compared with
all of them by cosine similarity of TF-IDF vectors over two kinds of
features: jieba words (so "人防车位" is one feature and word order does not
matter) and character bigrams (so "拉警报"/"警报响" and typos still share
something). The entry's score is its best wording's; the best entry valid
today wins if it reaches the threshold. An inverted index keeps a query to a
few dictionary look-ups (tens of microseconds).

Staff corrections feed in as extra wordings: a message that should have got
entry B becomes a wording of B; a message that should not have got entry A
becomes a *negative* wording of A, and A is then not offered for a question
closer to that negative than to A's own wordings.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Protocol

from . import segment
from .textnorm import CACHE_TEXT_MAX, normalize

DEFAULT_THRESHOLD = 0.45
# A notice valid only on some days (e.g. the siren-test day) is preferred to
# a standing answer on the same question when both match about as well.
CURRENT_NOTICE_BONUS = 0.12
COVER_WORDING = 0.7
BIGRAM_WEIGHT = 0.5  # bigrams help recall; words carry more meaning

# Words that say nothing about which question is asked.
STOPWORDS = frozenset(
    "的 了 吗 呢 啊 吧 呀 嘛 哦 么 是 我 你 您 他 她 它 我们 你们 请问 请 问 问下 问一下 一下 想 想问 想问下 "
    "这 那 这个 那个 在 和 与 及 也 都 就 还 又 很 太 一 个 有 没 没有 给 让 被 把 对 啥 呗 哈 嗯 "
    "咨询 你好 您好 谢谢 麻烦 打扰 了解 知道 告诉".split()
)
_KEEP = re.compile(r"[\w\u4e00-\u9fff]+")
_HAN = re.compile(r"[\u4e00-\u9fff0-9a-z]+")
SYNONYMS_FILE = Path(__file__).with_name("kb_synonyms.txt")


def load_synonyms(path: Path = SYNONYMS_FILE) -> dict[str, str]:
    """word → the word that stands for its group."""
    out: dict[str, str] = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            words = line.split("#", 1)[0].split()
            for w in words:
                out.setdefault(normalize(w), normalize(words[0]))
    return out


_SYNONYMS = load_synonyms()
# Phrases are replaced in the text before segmenting, longest first, so a
# synonym jieba would cut differently ("咋回事" → 咋 / 回事) still counts.
_PHRASES = re.compile("|".join(sorted((re.escape(w) for w in _SYNONYMS if len(w) > 1), key=len, reverse=True)) or "(?!)")


def _canonical_phrases(norm: str) -> str:
    return _PHRASES.sub(lambda m: _SYNONYMS[m.group(0)], norm)


class EntryLike(Protocol):
    key: str
    questions: tuple[str, ...]
    learned: tuple[str, ...]

    def valid_on(self, day: date) -> bool: ...

    @property
    def valid_from(self) -> date | None: ...

    @property
    def valid_to(self) -> date | None: ...


def features(text: str) -> dict[str, float]:
    """Term counts: words (w:) and character bigrams (b:) of the normalised text."""
    norm = _canonical_phrases(normalize(text))
    out: dict[str, float] = defaultdict(float)
    for chunk in _KEEP.findall(norm):
        # search mode adds the parts of long words ("防空警报" → 防空, 警报)
        for w in segment.search_words(chunk):
            if w not in STOPWORDS and w.strip():
                out["w:" + _SYNONYMS.get(w, w)] += 1.0
    for run in _HAN.findall(norm):
        for i in range(len(run) - 1):
            out["b:" + run[i:i + 2]] += BIGRAM_WEIGHT
    return out


@lru_cache(maxsize=4096)
def cached_features(text: str) -> dict[str, float]:
    """``features`` of a question, kept for the same wording asked again
    ("人工", "警报几点响"). Callers must not change the dict."""
    return dict(features(text))


@dataclass(frozen=True, slots=True)
class Match:
    entry: EntryLike
    score: float
    wording: str  # the wording that matched best
    question_covered: float = 0.0  # share of the question's weight that wording explains


class Matcher:
    """An immutable index over entries; rebuild it when entries change."""

    def __init__(self, entries: Sequence[EntryLike], negatives: dict[str, Sequence[str]] | None = None,
                 threshold: float = DEFAULT_THRESHOLD, cover_wording: float | None = None):
        self.entries = list(entries)
        self.threshold = threshold
        self.cover_wording = COVER_WORDING if cover_wording is None else cover_wording
        docs: list[tuple[int, bool, str, dict[str, float]]] = []  # (entry index, negative?, text, counts)
        for i, e in enumerate(self.entries):
            for q in (*e.questions, *getattr(e, "learned", ())):
                if (f := features(q)):
                    docs.append((i, False, q, f))
            for q in (negatives or {}).get(e.key, ()):
                if (f := features(q)):
                    docs.append((i, True, q, f))
        # Document frequency over entries, not wordings: a word every wording
        # of one entry shares ("警报") is what sets that entry apart.
        df: dict[str, int] = defaultdict(int)
        for t in {(i, t) for i, neg, _, f in docs if not neg for t in f}:
            df[t[1]] += 1
        n = max(len(self.entries), 1)
        self._idf = {t: math.log((1 + n) / (1 + c)) + 1.0 for t, c in df.items()}
        self._unknown_idf = math.log(1 + n) + 1.0
        self._docs = [(i, neg, text) for i, neg, text, _ in docs]
        postings: dict[str, list[tuple[int, float]]] = defaultdict(list)
        for d, (_, _, _, f) in enumerate(docs):
            vec = self._weigh(f)
            for t, w in vec.items():
                postings[t].append((d, w))
        self._postings = dict(postings)

    def _weigh(self, counts: dict[str, float]) -> dict[str, float]:
        vec = {t: (1.0 + math.log(c) if c >= 1 else c) * self._idf.get(t, self._unknown_idf)
               for t, c in counts.items()}
        norm = math.sqrt(sum(w * w for w in vec.values())) or 1.0
        return {t: w / norm for t, w in vec.items()}

    def scores(self, text: str) -> dict[int, tuple[float, float, str, float]]:
        """entry index → (best positive similarity, best negative similarity,
        wording, share of the question that wording covers).

        Similarity is the weighted geometric mean of two coverages: how much
        of the wording's (TF-IDF squared) weight the question shares, and how
        much of the question's. Citizens add words a wording lacks ("刚刚",
        "吓一跳"), so covering the wording counts more (COVER_WORDING)."""
        if not self._postings:
            return {}  # no entries: nothing to cut the text for
        q = self._weigh(cached_features(text) if len(text) <= CACHE_TEXT_MAX else features(text))
        cov_d: dict[int, float] = defaultdict(float)
        cov_q: dict[int, float] = defaultdict(float)
        for t, w in q.items():
            wq = w * w
            for d, dw in self._postings.get(t, ()):
                cov_d[d] += dw * dw
                cov_q[d] += wq
        a = self.cover_wording
        best: dict[int, tuple[float, float, str, float]] = {}
        for d, cd in cov_d.items():
            cq = min(cov_q[d], 1.0)
            s = (min(cd, 1.0) ** a) * (cq ** (1.0 - a))
            i, neg, wording = self._docs[d]
            pos0, neg0, w0, q0 = best.get(i, (0.0, 0.0, "", 0.0))
            if neg:
                best[i] = (pos0, max(neg0, s), w0, q0)
            elif s > pos0:
                best[i] = (s, neg0, wording, cq)
        return best

    def match(self, text: str, day: date | None = None) -> Match | None:
        """The best entry valid on ``day`` (any day when None) whose
        similarity reaches the threshold, or None."""
        top: tuple[float, Match] | None = None
        for i, (pos, neg, wording, covered) in self.scores(text).items():
            e = self.entries[i]
            if pos < self.threshold or neg >= pos:
                continue
            if day is not None and not e.valid_on(day):
                continue
            dated = e.valid_from is not None or e.valid_to is not None
            rank = pos + (CURRENT_NOTICE_BONUS if dated else 0.0)
            if top is None or rank > top[0]:
                top = (rank, Match(e, pos, wording, covered))
        return top[1] if top else None

    def ranked(self, text: str, day: date | None = None, limit: int = 5) -> list[Match]:
        """Candidates for staff (above zero, best first), valid on ``day``."""
        out = []
        for i, (pos, neg, wording, covered) in self.scores(text).items():
            e = self.entries[i]
            if day is None or e.valid_on(day):
                out.append(Match(e, pos, wording, covered))
        out.sort(key=lambda m: -m.score)
        return out[:limit]


def build(entries: Iterable[EntryLike], negatives: dict[str, Sequence[str]] | None = None,
          threshold: float = DEFAULT_THRESHOLD) -> Matcher:
    segment.init()
    return Matcher(list(entries), negatives, threshold)


def evaluate(matcher: Matcher, rows: Iterable[tuple[str, str | None, date | None]]) -> dict:
    """Accuracy on (text, expected entry key or None, day): a question gets
    the right entry, and a message no entry fits gets none."""
    n = right = should = answered_right = wrong_answer = false_answer = 0
    misses = []
    for text, expected, day in rows:
        m = matcher.match(text, day)
        got = m.entry.key if m else None
        n += 1
        right += got == expected
        if expected:
            should += 1
            answered_right += got == expected
        if got and got != expected:
            if expected:
                wrong_answer += 1
            else:
                false_answer += 1
        if got != expected:
            misses.append((text, expected, got, round(m.score, 3) if m else None))
    return {"n": n, "accuracy": right / n if n else 0.0,
            "recall": answered_right / should if should else 0.0,
            "wrong_entry": wrong_answer, "answered_when_none_fits": false_answer,
            "precision": answered_right / (answered_right + wrong_answer + false_answer)
            if (answered_right + wrong_answer + false_answer) else 1.0,
            "misses": misses}
