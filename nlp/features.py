"""Features of the learned stage: character 1–N-grams and (optionally) jieba words.

Shared by training and inference so both see exactly the same features.
A feature is present or absent (binary); digits are folded to 0.
"""

from __future__ import annotations

from . import segment

_DIGITS = str.maketrans("0123456789", "0000000000")


def featurize(norm: str, *, ngram_max: int = 3, words: bool = True) -> set[str]:
    """Unique features of a normalised text (order is irrelevant)."""
    t = norm.translate(_DIGITS)
    n = len(t)
    feats = set(t)
    feats.discard(" ")
    get = t.__getitem__
    for k in range(2, ngram_max + 1):
        if n < k:
            break
        # slices built in C (map) rather than a generator expression
        feats.update(map(get, map(slice, range(n - k + 1), range(k, n + 1))))
    if words and n:
        feats.update("w|" + w for w in segment.words(t) if len(w) > 1 and not w.isspace())
    return feats
