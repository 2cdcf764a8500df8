"""Features of the learned stage: character 1–N-grams and (optionally) jieba words.

Shared by training and inference so both see exactly the same features.
A feature is present or absent (binary); digits are folded to 0.
"""

from __future__ import annotations

import re
from operator import add

from . import segment

_DIGITS = re.compile("[1-9]")  # ASCII digits other than 0, folded to 0


def fold_digits(norm: str) -> str:
    return _DIGITS.sub("0", norm)


def featurize(norm: str, *, ngram_max: int = 3, words: bool = True) -> set[str]:
    """Unique features of a normalised text (order is irrelevant)."""
    t = fold_digits(norm)
    feats = set(t)
    feats.discard(" ")
    # the k-grams are the (k-1)-grams each extended by the character after
    # them: built by map() in C, one string concatenation per n-gram
    grams = t
    for k in range(2, ngram_max + 1):
        grams = list(map(add, grams, t[k - 1 :]))
        if not grams:
            break
        feats.update(grams)
    if words and t:
        feats.update("w|" + w for w in segment.words(t) if len(w) > 1 and not w.isspace())
    return feats
