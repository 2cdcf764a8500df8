"""Issue 18: quality on voices the classifier was never tuned on.

tests/nlp/data/heldout_written.csv (79 messages written in voices the dev
rows lack: pinyin, traditional characters, dialect, rambling, two requests
with ``kind2``, disclosure requests that never say 公开), heldout_written2.csv
(200 more, written blind by someone else: 25 per kind, 25 with two
requests) and heldout_board.csv (288 real message-board bodies) were
labelled and committed before any tuning (nlp/data/LABELLING.md); nothing
was tuned or trained on them. The floors sit a little under what was
measured (nlp/README.md), so that they fail if routing regresses, not on
noise; where they sit under the issue's targets, the targets are not met.
"""

import csv

import pytest

from nlp.metrics import macro_f1

DIS = "disclosure_request"


def _rows(fresh_csv, name):
    with (fresh_csv.parent / name).open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module", params=["heldout_written.csv", "heldout_written2.csv"])
def written(request, clf, fresh_csv):
    rows = _rows(fresh_csv, request.param)
    return request.param, rows, [clf.classify(r["text"]) for r in rows]


# file: (kind, topic, disclosure recall, disclosure precision) floors; measured
# 0.900 / 0.973 / 1.000 / 0.833 and 0.865 / 0.962 / 0.943 / 0.846 (before the
# retrained model: 0.761 / 0.925 / 1.000 / 0.938 on the first file)
FLOORS = {"heldout_written.csv": (0.88, 0.95, 0.95, 0.80), "heldout_written2.csv": (0.84, 0.94, 0.90, 0.80)}


def test_written_voices_kind_and_topic(written):
    name, rows, preds = written
    kind = macro_f1([r["kind"] for r in rows], [p.kind for p in preds])
    topic = macro_f1([r["topic"] for r in rows], [p.topic for p in preds])
    assert kind >= FLOORS[name][0] and topic >= FLOORS[name][1], (kind, topic)


def test_disclosure_requests_are_kept(written):
    """A message that asks for a document, alone or beside another request,
    reaches staff as a disclosure request: its kind or its secondary kind."""
    name, rows, preds = written
    gold = [DIS in (r["kind"], r["kind2"]) for r in rows]
    seen = [DIS in (p.kind, p.secondary_kind) for p in preds]
    tp = sum(g and s for g, s in zip(gold, seen))
    recall, precision = tp / sum(gold), tp / sum(seen)
    assert recall >= FLOORS[name][2] and precision >= FLOORS[name][3], (recall, precision)


def test_two_request_messages_keep_the_disclosure_part(fresh_csv, clf):
    for r in _rows(fresh_csv, "heldout_written.csv"):
        if r["kind2"] == DIS:
            p = clf.classify(r["text"])
            assert DIS in (p.kind, p.secondary_kind), r["text"]


def test_review_flags_stay_few(written):
    _, rows, preds = written
    flagged = sum(p.needs_review for p in preds) / len(preds)
    assert flagged <= 0.20, flagged


def test_message_board_kind(clf, fresh_csv):
    """Real citizens writing to a city's board about city matters: far from
    the office's own mail (measured 0.578; 0.360 before the retrained model,
    0.346 before issue 18)."""
    rows = _rows(fresh_csv, "heldout_board.csv")
    kind = macro_f1([r["kind"] for r in rows], [clf.classify(r["text"]).kind for r in rows])
    assert kind >= 0.54, kind
