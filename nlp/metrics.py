"""Precision/recall/F1 and confusion matrices, in plain Python."""

from __future__ import annotations


def per_class(gold: list[str], pred: list[str], classes: list[str] | None = None) -> dict[str, dict]:
    classes = classes or sorted(set(gold) | set(pred))
    out = {}
    for c in classes:
        tp = sum(1 for g, p in zip(gold, pred) if g == c and p == c)
        fp = sum(1 for g, p in zip(gold, pred) if g != c and p == c)
        fn = sum(1 for g, p in zip(gold, pred) if g == c and p != c)
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        out[c] = {"precision": prec, "recall": rec, "f1": f1, "support": tp + fn}
    return out


def macro_f1(gold: list[str], pred: list[str]) -> float:
    """Macro-F1 over the classes present in the gold labels (sklearn's
    behaviour with labels=unique(gold))."""
    classes = sorted(set(gold))
    if not classes:
        return 0.0
    pc = per_class(gold, pred, classes)
    return sum(pc[c]["f1"] for c in classes) / len(classes)


def accuracy(gold: list[str], pred: list[str]) -> float:
    return sum(g == p for g, p in zip(gold, pred)) / len(gold) if gold else 0.0


def confusion(gold: list[str], pred: list[str], classes: list[str]) -> list[list[int]]:
    ix = {c: i for i, c in enumerate(classes)}
    m = [[0] * len(classes) for _ in classes]
    for g, p in zip(gold, pred):
        if g in ix and p in ix:
            m[ix[g]][ix[p]] += 1
    return m


def format_report(name: str, gold: list[str], pred: list[str]) -> str:
    classes = sorted(set(gold) | set(pred))
    pc = per_class(gold, pred, classes)
    w = max([12, *map(len, classes)])
    lines = [f"== {name} ({len(gold)} rows, accuracy {accuracy(gold, pred):.3f}) ==",
             f"{'class':<{w}} {'prec':>6} {'rec':>6} {'f1':>6} {'n':>5}"]
    for c in classes:
        r = pc[c]
        lines.append(f"{c:<{w}} {r['precision']:6.3f} {r['recall']:6.3f} {r['f1']:6.3f} {r['support']:5d}")
    lines.append(f"macro-F1 ({name}) = {macro_f1(gold, pred):.3f}")
    m = confusion(gold, pred, classes)
    short = [c[:6] for c in classes]
    lines.append("confusion (rows = gold, columns = predicted):")
    lines.append(" " * w + " " + " ".join(f"{s:>6}" for s in short))
    for c, row in zip(classes, m):
        lines.append(f"{c:<{w}} " + " ".join(f"{x:6d}" for x in row))
    return "\n".join(lines)
