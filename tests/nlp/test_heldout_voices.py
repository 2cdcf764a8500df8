"""Issue 18: quality on voices the classifier was never tuned on.

tests/nlp/data/heldout_written.csv (79 messages written in voices the dev
rows lack: pinyin, traditional characters, dialect, rambling, two requests
with ``kind2``, disclosure requests that never say 公开) and
heldout_board.csv (288 real message-board bodies) were labelled and
committed before any tuning (nlp/data/LABELLING.md); nothing was tuned on
them. The floors sit a little under what was measured (nlp/README.md), so
that they fail if routing regresses, not on noise.
"""

import csv

import pytest

from nlp.metrics import macro_f1

DIS = "disclosure_request"


def _rows(fresh_csv, name):
    with (fresh_csv.parent / name).open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def written(clf, fresh_csv):
    rows = _rows(fresh_csv, "heldout_written.csv")
    return rows, [clf.classify(r["text"]) for r in rows]


def test_written_voices_kind_and_topic(written):
    rows, preds = written
    kind = macro_f1([r["kind"] for r in rows], [p.kind for p in preds])
    topic = macro_f1([r["topic"] for r in rows], [p.topic for p in preds])
    # measured 0.761 / 0.925 (before issue 18's rules: 0.668 / 0.905)
    assert kind >= 0.74 and topic >= 0.90, (kind, topic)


def test_no_disclosure_request_is_lost(written):
    """A message that asks for a document, alone or beside another request,
    reaches staff as a disclosure request: its kind or its secondary kind."""
    rows, preds = written
    gold = [DIS in (r["kind"], r["kind2"]) for r in rows]
    seen = [DIS in (p.kind, p.secondary_kind) for p in preds]
    tp = sum(g and s for g, s in zip(gold, seen))
    recall, precision = tp / sum(gold), tp / sum(seen)
    assert recall >= 0.95 and precision >= 0.85, (recall, precision)
    for r, p in zip(rows, preds):  # the two-request ones, one by one
        if r["kind2"] == DIS:
            assert DIS in (p.kind, p.secondary_kind), r["text"]


def test_review_flags_stay_few(written):
    rows, preds = written
    flagged = sum(p.needs_review for p in preds) / len(preds)
    assert flagged <= 0.20, flagged


def test_message_board_kind(clf, fresh_csv):
    """Real citizens writing to a city's board about city matters: far from
    the office's own mail (measured 0.360; 0.346 before)."""
    rows = _rows(fresh_csv, "heldout_board.csv")
    kind = macro_f1([r["kind"] for r in rows], [clf.classify(r["text"]).kind for r in rows])
    assert kind >= 0.33, kind
