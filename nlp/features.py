"""Features of the learned stage: character 1–3-grams and jieba words.

Shared by training and inference so both see exactly the same features.
"""

from __future__ import annotations

from . import segment

_DIGITS = str.maketrans("0123456789", "0000000000")


def featurize(norm: str, *, ngram_max: int = 3, words: bool = True) -> list[str]:
    """Unique features of a normalised text (order is irrelevant)."""
    t = norm.translate(_DIGITS)
    n = len(t)
    feats = set(t)
    feats.discard(" ")
    if ngram_max >= 2:
        feats.update(t[i : i + 2] for i in range(n - 1))
    if ngram_max >= 3:
        feats.update(t[i : i + 3] for i in range(n - 2))
    if words and n:
        feats.update("w|" + w for w in segment.words(t) if len(w) > 1 and not w.isspace())
    return list(feats)
