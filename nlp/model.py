"""Inference for the learned stage: a linear model scored with dict lookups.

A model file is JSON:

    {"format": "gov-intake-linear/1",
     "features": {"ngram_max": 3, "words": true, "scale": "l2"},
     "heads": {"kind": {"classes": [...], "bias": [...]}, "topic": {...}},
     "weights": {"feature": [w for every class of every head, in head order]},
     "meta": {...}}

One weight list per feature covers all heads, so scoring a text is one dict
lookup per feature. No numpy or scikit-learn is needed at run time.
"""

from __future__ import annotations

import json
import math
from operator import add
from pathlib import Path

from .features import featurize

FORMAT = "gov-intake-linear/1"


class ModelError(ValueError):
    pass


class LinearModel:
    def __init__(self, data: dict, source: str = "<model>"):
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ModelError(f"{source}: not a gov-intake model file (format {FORMAT!r} expected)")
        self.source = source
        feats = data.get("features") or {}
        self.ngram_max = int(feats.get("ngram_max", 3))
        self.use_words = bool(feats.get("words", True))
        self.scale = feats.get("scale", "l2")
        self.meta = data.get("meta") or {}
        self.heads: dict[str, tuple[int, list[str], list[float]]] = {}
        offset = 0
        for name, h in data["heads"].items():
            classes = list(h["classes"])
            bias = [float(b) for b in h["bias"]]
            if len(bias) != len(classes):
                raise ModelError(f"{source}: head {name}: bias and classes differ in length")
            self.heads[name] = (offset, classes, bias)
            offset += len(classes)
        self.width = offset
        self.bias = [b for _, _, bias in self.heads.values() for b in bias]
        self.weights: dict[str, list[float]] = data["weights"]
        for f, w in list(self.weights.items())[:5]:
            if len(w) != offset:
                raise ModelError(f"{source}: weights of {f!r} have {len(w)} values, expected {offset}")

    @classmethod
    def load(cls, path: str | Path) -> "LinearModel":
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise ModelError(f"{path}: cannot read model: {e}") from None
        return cls(data, str(path))

    def raw_scores(self, norm: str) -> list[float]:
        """Decision values for every class of every head (head order)."""
        feats = featurize(norm, ngram_max=self.ngram_max, words=self.use_words)
        rows = [w for w in map(self.weights.get, feats) if w is not None]
        if not rows:
            return list(self.bias)
        # transpose in C: one sum per class instead of one list per feature
        acc = [sum(col) for col in zip(*rows)]
        if self.scale == "l2":
            k = 1.0 / math.sqrt(len(feats))
            return [b + k * a for b, a in zip(self.bias, acc)]
        return list(map(add, self.bias, acc))

    def head_scores(self, raw: list[float], head: str) -> dict[str, float] | None:
        h = self.heads.get(head)
        if h is None:
            return None
        off, classes, _ = h
        return dict(zip(classes, raw[off : off + len(classes)]))


def softmax(scores: dict[str, float]) -> dict[str, float]:
    m = max(scores.values())
    ex = {k: math.exp(v - m) for k, v in scores.items()}
    z = sum(ex.values())
    return {k: v / z for k, v in ex.items()}
