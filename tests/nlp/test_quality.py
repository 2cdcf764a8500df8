"""Quality floors that fail if routing regresses badly.

Floors are below what was measured (see nlp/README.md) so that noise does
not fail them, but far above a plain model on the dev rows.
"""

import csv

from nlp.evaluation import cross_validate
from nlp.metrics import macro_f1
from nlp.training import rows_from_file




def test_cross_validated_quality_on_dev_rows(dev_csv):
    rows = rows_from_file(dev_csv, ["kind", "topic"])
    res = cross_validate(rows, k=5, seeds=(0,))
    combined = res[("combined", None)]
    model = res[("model", None)]
    # measured: combined ≈ 0.98 / 0.98; model alone ≈ 0.57 / 0.82
    assert combined["kind"] >= 0.90, res
    assert combined["topic"] >= 0.93, res
    # the rules must add real knowledge over the learned model alone
    assert combined["kind"] >= model["kind"] + 0.2, res


def test_other_voices(clf, fresh_csv):
    """Messages written in other voices than the dev rows (hotline summaries,
    formal letters, terse/angry WeChat, traditional characters, English)."""
    with fresh_csv.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    preds = [clf.classify(r["text"]) for r in rows]
    assert macro_f1([r["kind"] for r in rows], [p.kind for p in preds]) >= 0.85
    assert macro_f1([r["topic"] for r in rows], [p.topic for p in preds]) >= 0.90


def _score(clf, path):
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    preds = [clf.classify(r["text"]) for r in rows]
    return (macro_f1([r["kind"] for r in rows], [p.kind for p in preds]),
            macro_f1([r["topic"] for r in rows], [p.topic for p in preds]))


def test_held_out_voices(clf, fresh_csv):
    """Two more sets in voices the dev rows do not have, written after the
    rules were last broadened: speech-to-text / community grid workers
    (heldout_voices2: measured before the rules were reviewed 0.923 / 0.945,
    the review looked at its misses) and enterprises / young netizens
    (heldout_voices3: never used for tuning, 0.957 / 0.924)."""
    data = fresh_csv.parent
    k2, t2 = _score(clf, data / "heldout_voices2.csv")
    k3, t3 = _score(clf, data / "heldout_voices3.csv")
    assert k2 >= 0.90 and t2 >= 0.90, (k2, t2)
    assert k3 >= 0.85 and t3 >= 0.85, (k3, t3)
