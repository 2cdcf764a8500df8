"""Scoring the classifier on labelled files, and cross-validation of the
rules alone, the model alone and both combined."""

from __future__ import annotations


from .metrics import macro_f1
from .training import Row, stratified_folds, train


def predict(clf, texts: list[str], head: str) -> list[str]:
    out = []
    for t in texts:
        c = clf.classify(t)
        out.append(c.kind if head == "kind" else c.topic)
    return out


def predict_model_head(model, texts: list[str], head: str) -> list[str]:
    """Prediction of a model head that is not kind/topic (e.g. 'label')."""
    from .textnorm import normalize

    out = []
    for t in texts:
        s = model.head_scores(model.raw_scores(normalize(t)), head)
        out.append(max(s, key=s.__getitem__))
    return out


def cross_validate(rows: list[Row], *, k: int = 5, seeds=(0,), rule_weights=(None,), algo=None, C=None,
                   words: bool | None = None, rules=None) -> dict:
    """k-fold CV over rows labelled with kind and topic. Returns
    {(mode, rule_weight): {"kind": f1, "topic": f1}} averaged over seeds;
    the model is retrained on each training fold, the rules are fixed."""
    from .classifier import OfficeClassifier
    from .model import LinearModel
    from .rules import Rules

    rules = rules or Rules.load()
    kw = {}
    if algo:
        kw["algo"] = algo
    if C:
        kw["C"] = C
    texts = [t for t, _ in rows]
    kinds = [l.get("kind", "") for _, l in rows]
    topics = [l.get("topic", "") for _, l in rows]
    results: dict = {}
    for seed in seeds:
        folds = stratified_folds(kinds, k, seed)
        preds: dict = {}
        for fold in folds:
            test = set(fold)
            tr = [rows[i] for i in range(len(rows)) if i not in test]
            if words is not None:
                kw["words"] = words
            model = LinearModel(train(tr, ["kind", "topic"], **kw))
            te_texts = [texts[i] for i in fold]
            for rw in rule_weights:
                for mode in ("rules", "model", "combined"):
                    if mode != "combined" and rw != rule_weights[0]:
                        continue
                    clf = OfficeClassifier(rules, model, mode=mode,
                                           **({"rule_weight": rw} if rw is not None else {}))
                    p = preds.setdefault((mode, rw), {"kind": [None] * len(rows), "topic": [None] * len(rows)})
                    for i, t in zip(fold, te_texts):
                        c = clf.classify(t)
                        p["kind"][i] = c.kind
                        p["topic"][i] = c.topic
        for key, p in preds.items():
            r = results.setdefault(key, {"kind": 0.0, "topic": 0.0})
            r["kind"] += macro_f1(kinds, p["kind"]) / len(seeds)
            r["topic"] += macro_f1(topics, p["topic"]) / len(seeds)
    return results


def review_calibration(rows: list[Row], *, k: int = 5, seeds=(0,), thresholds=(0.3, 0.4, 0.5, 0.6, 0.7, 0.8),
                       rules=None) -> dict:
    """How well ``needs_review`` (confidence < threshold) separates errors,
    on k-fold cross-validation (model retrained per fold, combined mode).
    A message is an error when its kind or its topic is wrong. Returns
    {threshold: {"flagged": share flagged, "errors_caught": share of the
    errors that are flagged, "correct_flagged": share of the correct ones
    flagged, "error_rate_unflagged": error rate among the unflagged}} and
    the overall error rate under "error_rate"."""
    from .classifier import OfficeClassifier
    from .model import LinearModel
    from .rules import Rules

    rules = rules or Rules.load()
    kinds = [l.get("kind", "") for _, l in rows]
    conf_err: list[tuple[float, bool]] = []
    for seed in seeds:
        for fold in stratified_folds(kinds, k, seed):
            test = set(fold)
            model = LinearModel(train([rows[i] for i in range(len(rows)) if i not in test], ["kind", "topic"]))
            clf = OfficeClassifier(rules, model, mode="combined")
            for i in fold:
                t, lab = rows[i]
                c = clf.classify(t)
                conf_err.append((c.confidence, c.kind != lab.get("kind") or c.topic != lab.get("topic")))
    n = len(conf_err)
    errors = sum(e for _, e in conf_err)
    out: dict = {"error_rate": errors / n if n else 0.0, "n": n}
    for th in thresholds:
        flagged = [e for c, e in conf_err if c < th]
        unflagged = [e for c, e in conf_err if c >= th]
        out[th] = {
            "flagged": len(flagged) / n if n else 0.0,
            "errors_caught": sum(flagged) / errors if errors else 1.0,
            "correct_flagged": (len(flagged) - sum(flagged)) / (n - errors) if n - errors else 0.0,
            "error_rate_unflagged": sum(unflagged) / len(unflagged) if unflagged else 0.0,
        }
    return out
