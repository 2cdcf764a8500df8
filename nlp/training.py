"""Training the learned stage (scikit-learn is used here only, never at run time).

Input rows come from any labelled CSV and from staff corrections in the
database; both end up as ``(text, {head: label})`` pairs, where a head is
``kind``, ``topic`` or any other label column (e.g. ``label`` for the public
department data). The result is a JSON model file read by ``nlp.model``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import random
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Iterable, Iterator

from .labels import KINDS, TOPICS
from .features import featurize
from .model import FORMAT
from .textnorm import normalize

Row = tuple[str, dict[str, str]]

# Chosen by 5-fold cross-validation on messages_dev.csv and on the public
# titles (see nlp/README.md for the figures).
DEFAULT_ALGO = "lr"
DEFAULT_C = 10.0
# jieba words as features: re-measured on 25 November 2026 with jieba-rs
# (5-fold CV × 3 seeds on the dev rows): the model alone gains +0.009 kind /
# +0.008 topic macro-F1 (0.565 → 0.573, 0.814 → 0.822), but combined with the
# rules nothing changes (0.981 / 0.979 either way), nor on the three held-out
# files (identical macro-F1); and they cost a segmentation per message and
# keep the batch path from scoring with numpy. So the office model uses
# character n-grams only; `nlp train --words` turns them on.
DEFAULT_WORDS = False
OFFICE_PRESET = {"algo": DEFAULT_ALGO, "C": DEFAULT_C, "ngram_max": 3, "words": DEFAULT_WORDS, "tfidf": False,
                 "balanced": False}
# Other label columns (department routing): a linear SVM (squared hinge,
# scikit-learn's LinearSVC, C=1) on the same TF-IDF features beat logistic
# regression (C=30) on the public titles' seed-0 split, 0.8901 against
# 0.8815 (issue 18; chosen on that one split; mean of 5 seeds 0.8857 against
# 0.8820, see nlp/README.md).
GENERIC_PRESET = {"algo": "svm", "C": 1.0, "ngram_max": 3, "words": True, "tfidf": True, "balanced": True}
LINEAR = ("lr", "svm")  # scored on L2-normalised (TF-IDF) vectors


class TrainingError(ValueError):
    pass


# ---------------------------------------------------------------- input rows
def read_table(path: str | Path) -> tuple[list[str], Iterator[tuple[int, dict]]]:
    """Open a CSV (with header) or JSONL file; return (columns, rows) where
    rows yields (line number, dict). Invalid UTF-8 raises TrainingError
    naming the line."""
    path = Path(path)
    raw = path.read_bytes()
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        return _read_jsonl(raw, path)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise TrainingError(f"{path}: line {line}: not valid UTF-8") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise TrainingError(f"{path}: empty file, a header row is needed") from None

    def rows():
        for rec in reader:
            if not rec:
                continue
            yield reader.line_num, dict(zip(header, rec))

    return header, rows()


def _read_jsonl(raw: bytes, path: Path):
    lines = raw.split(b"\n")
    cols: list[str] = []

    def rows():
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line.decode("utf-8"))
            except UnicodeDecodeError:
                raise TrainingError(f"{path}: line {n}: not valid UTF-8") from None
            except ValueError as e:
                raise TrainingError(f"{path}: line {n}: not valid JSON ({e.msg})") from None
            if not isinstance(obj, dict):
                raise TrainingError(f"{path}: line {n}: expected a JSON object")
            yield n, {str(k).lower(): ("" if v is None else str(v)) for k, v in obj.items()}

    return cols, rows()


def rows_from_file(path: str | Path, heads: list[str], *, some_heads: bool = False) -> list[Row]:
    """Labelled rows of a CSV/JSONL file: column ``text`` and one column per
    head (with ``some_heads``, at least one of them: a file of board rows
    labels kind only)."""
    header, rows = read_table(path)
    if header:
        missing = [c for c in ["text", *heads] if c not in header]
        if some_heads and "text" in header and len(missing) < len(heads):
            missing = []
        if missing:
            raise TrainingError(f"{path}: missing column(s) {', '.join(missing)} (found: {', '.join(header)})")
    out = []
    for n, rec in rows:
        text = rec.get("text") or ""
        labels = {h: (rec.get(h) or "").strip() for h in heads}
        labels = {h: v for h, v in labels.items() if v}
        if text.strip() and labels:
            out.append((text, labels))
    return out


def rows_from_corrections(triples: Iterable[tuple[str, str | None, str | None]]) -> list[Row]:
    """Staff corrections (text, kind, topic) → training rows. Unknown or empty
    labels are skipped per head."""
    out = []
    for text, kind, topic in triples:
        labels = {}
        if kind in KINDS:
            labels["kind"] = kind
        if topic in TOPICS:
            labels["topic"] = topic
        if text and labels:
            out.append((text, labels))
    return out


# ------------------------------------------------------------------ fitting
def feature_sets(texts: list[str], ngram_max: int, words: bool) -> list[set[str]]:
    return [featurize(normalize(t), ngram_max=ngram_max, words=words) for t in texts]


def idf_of(sets: list[set[str]]) -> dict[str, float]:
    """Smoothed inverse document frequency (scikit-learn's formula)."""
    df = Counter(f for fs in sets for f in fs)
    n = len(sets)
    return {f: math.log((1 + n) / (1 + d)) + 1.0 for f, d in df.items()}


def _vectors(sets: list[set[str]], scale: str, idf: dict[str, float] | None) -> list[dict]:
    dicts = []
    for feats in sets:
        if idf is not None:
            d = {f: idf[f] for f in feats}
            if scale == "l2" and d:
                k = 1.0 / math.sqrt(sum(v * v for v in d.values()))
                d = {f: v * k for f, v in d.items()}
        else:
            v = 1.0 / math.sqrt(len(feats)) if (scale == "l2" and feats) else 1.0
            d = dict.fromkeys(feats, v)
        dicts.append(d)
    return dicts


def fit_head(texts: list[str], labels: list[str], *, algo: str = DEFAULT_ALGO, C: float = DEFAULT_C,
             ngram_max: int = 3, words: bool = DEFAULT_WORDS, idf: dict[str, float] | None = None,
             balanced: bool = False, sets: list[set[str]] | None = None, prune_below: float | None = None):
    """Fit one head; return (classes, bias, {feature: [weights]}). With
    ``idf`` (feature → idf) the features are TF-IDF weighted (binary tf)."""
    from sklearn.feature_extraction import DictVectorizer

    scale = "l2" if algo in LINEAR else "none"
    if sets is None:
        sets = feature_sets(texts, ngram_max, words)
    dicts = _vectors(sets, scale, idf if algo in LINEAR else None)
    vec = DictVectorizer()
    X = vec.fit_transform(dicts)
    names = vec.get_feature_names_out()
    classes = sorted(set(labels))
    if len(classes) < 2:
        raise TrainingError(f"need at least two different labels, got {classes}")
    if algo in LINEAR:
        if algo == "lr":
            from sklearn.linear_model import LogisticRegression

            clf = LogisticRegression(C=C, max_iter=3000, class_weight="balanced" if balanced else None)
        else:
            from sklearn.svm import LinearSVC

            clf = LinearSVC(C=C, class_weight="balanced" if balanced else None)
            if X.indices.dtype != "int32" and X.nnz < 2**31:  # liblinear takes 32-bit indices only
                X = X.tocsr()
                X.indices, X.indptr = X.indices.astype("int32"), X.indptr.astype("int32")
        clf.fit(X, labels)
        coef, bias = clf.coef_, clf.intercept_
        if len(clf.classes_) == 2:  # binary: sklearn keeps one row
            coef = [-coef[0] / 2, coef[0] / 2]
            bias = [-bias[0] / 2, bias[0] / 2]
        classes = list(clf.classes_)
    elif algo == "nb":
        from sklearn.naive_bayes import MultinomialNB

        clf = MultinomialNB(alpha=C if C < 5 else 0.1)
        clf.fit(X, labels)
        coef, bias = clf.feature_log_prob_, clf.class_log_prior_
        classes = list(clf.classes_)
    else:
        raise TrainingError(f"unknown algorithm {algo!r} (lr, svm or nb)")
    import numpy as np

    coef = np.asarray(coef)
    ncls = len(classes)
    # prune features whose effective weight (times idf) is negligible: they
    # still count in the norm at run time (as unseen features)
    eff = np.abs(coef).max(axis=0)
    if algo in LINEAR and idf is not None:
        eff = eff * np.array([idf[n] for n in names])
    prune_below = PRUNE_BELOW if prune_below is None else prune_below
    keep = np.nonzero(eff >= prune_below)[0] if algo in LINEAR else range(len(names))
    weights = {}
    for j in keep:
        weights[names[j]] = [float(coef[c][j]) for c in range(ncls)]
    return classes, [float(b) for b in bias], weights


# weights under this (after idf) are dropped from the model file
PRUNE_BELOW = 0.01


def train(rows: Iterable[Row], heads: list[str], *, algo: str | None = None, C: float | None = None,
          ngram_max: int | None = None, words: bool | None = None, tfidf: bool | None = None,
          balanced: bool | None = None, rule_weights: dict[str, float] | None = None,
          prune_below: float | None = None, meta: dict | None = None) -> dict:
    """Train a model with one head per label column; return the JSON-able model.

    Defaults depend on the heads: the office heads (kind, topic) use the
    fast office settings (binary character 1–3-grams, C=10); any other label
    column (e.g. department routing) uses TF-IDF character 1–3-grams plus
    jieba words, balanced class weights, a linear SVM (see nlp/README.md for
    the measurements). ``rule_weights`` (head → weight) are stored in the
    model for the classifier to weigh the rules with beside it; weights
    smaller than ``prune_below`` (default ``PRUNE_BELOW``) are dropped."""
    rows = list(rows)
    office = set(heads) <= {"kind", "topic"}
    preset = OFFICE_PRESET if office else GENERIC_PRESET
    algo = algo or preset["algo"]
    C = C if C is not None else preset["C"]
    ngram_max = ngram_max if ngram_max is not None else preset["ngram_max"]
    words = words if words is not None else preset["words"]
    tfidf = tfidf if tfidf is not None else preset["tfidf"]
    balanced = balanced if balanced is not None else preset["balanced"]
    prune_below = PRUNE_BELOW if prune_below is None else prune_below
    tfidf = tfidf and algo in LINEAR
    texts = [t for t, _ in rows]
    sets = feature_sets(texts, ngram_max, words)
    idf = idf_of(sets) if tfidf else None
    model_heads = {}
    per_head_weights = []
    for h in heads:
        idx = [i for i, (_, lab) in enumerate(rows) if h in lab]
        if not idx:
            raise TrainingError(f"no rows labelled for {h!r}")
        labels = [rows[i][1][h] for i in idx]
        classes, bias, weights = fit_head([texts[i] for i in idx], labels, algo=algo, C=C, ngram_max=ngram_max,
                                          words=words, idf=idf, balanced=balanced, sets=[sets[i] for i in idx],
                                          prune_below=prune_below)
        model_heads[h] = {"classes": classes, "bias": [round(b, 5) for b in bias],
                          "counts": dict(Counter(labels))}
        if rule_weights and h in rule_weights:
            model_heads[h]["rule_weight"] = float(rule_weights[h])
        per_head_weights.append((len(classes), weights))
    # merge heads into one weight list per feature (+ its idf)
    merged: dict[str, list[float]] = {}
    all_feats = set().union(*(w.keys() for _, w in per_head_weights))
    for f in all_feats:
        row = []
        for ncls, w in per_head_weights:
            row.extend(round(x, 4) for x in w.get(f, [0.0] * ncls))
        if idf is not None:
            row.append(round(idf[f], 4))
        merged[f] = row
    features = {"ngram_max": ngram_max, "words": words, "scale": "l2" if algo in LINEAR else "none"}
    if idf is not None:
        features["idf"] = True
        features["idf_unseen"] = round(max(idf.values()), 4)
    return {
        "format": FORMAT,
        "features": features,
        "heads": model_heads,
        "weights": merged,
        "meta": {"algo": algo, "C": C, "tfidf": bool(idf), "balanced": balanced, "rows": len(rows),
                 "prune_below": prune_below,
                 "trained_at": time.strftime("%Y-%m-%dT%H:%M:%S"), **(meta or {})},
    }


def save_model(model: dict, path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(model, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
    tmp.replace(path)


# --------------------------------------------------------- cross-validation
def stratified_folds(labels: list[str], k: int = 5, seed: int = 0) -> list[list[int]]:
    """Indices split into k folds, each label spread evenly over the folds."""
    rng = random.Random(seed)
    by = defaultdict(list)
    for i, l in enumerate(labels):
        by[l].append(i)
    folds: list[list[int]] = [[] for _ in range(k)]
    start = 0
    for l in sorted(by):
        idx = by[l]
        rng.shuffle(idx)
        for j, i in enumerate(idx):
            folds[(start + j) % k].append(i)
        start += len(idx)
    return folds


def stratified_split(labels: list[str], test_share: float = 0.2, seed: int = 0) -> tuple[list[int], list[int]]:
    rng = random.Random(seed)
    by = defaultdict(list)
    for i, l in enumerate(labels):
        by[l].append(i)
    train_idx, test_idx = [], []
    for l in sorted(by):
        idx = by[l]
        rng.shuffle(idx)
        n_test = round(len(idx) * test_share)
        test_idx += idx[:n_test]
        train_idx += idx[n_test:]
    return sorted(train_idx), sorted(test_idx)
