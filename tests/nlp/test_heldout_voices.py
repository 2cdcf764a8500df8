"""Issue 18: quality on voices the classifier was never tuned on.

tests/nlp/data/heldout_written3.csv (200 messages written blind by another
hand: 25 per kind, every topic, 25 with two requests in ``kind2``, 22
voices: pinyin, traditional characters, dialects, rambling speech, hotline
summaries, angry complaints that never say 投诉, disclosure requests that
never say 公开) and heldout_board2.csv (300 real message-board bodies,
labelled for kind) were committed before any classifier saw them
(nlp/data/LABELLING.md, third round); nothing was tuned or trained on them.
The floors sit a little under what was measured (nlp/README.md), so that
they fail if routing regresses, not on noise.
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
    rows = _rows(fresh_csv, "heldout_written3.csv")
    return rows, [clf.classify(r["text"]) for r in rows]


@pytest.fixture(scope="module")
def board(clf, fresh_csv):
    rows = _rows(fresh_csv, "heldout_board2.csv")
    return rows, [clf.classify(r["text"]) for r in rows]


def test_written_voices_kind_and_topic(written):
    """Measured 0.950 / 0.955 (the model before issue 18's third round: 0.863 / 0.961)."""
    rows, preds = written
    kind = macro_f1([r["kind"] for r in rows], [p.kind for p in preds])
    topic = macro_f1([r["topic"] for r in rows], [p.topic for p in preds])
    assert kind >= 0.92 and topic >= 0.93, (kind, topic)


def test_disclosure_requests_are_kept(written):
    """A message that asks for a document, alone or beside another request,
    reaches staff as a disclosure request: its kind or its secondary kind
    (measured: recall 39/40, precision 39/42)."""
    rows, preds = written
    gold = [DIS in (r["kind"], r["kind2"]) for r in rows]
    seen = [DIS in (p.kind, p.secondary_kind) for p in preds]
    tp = sum(g and s for g, s in zip(gold, seen))
    recall, precision = tp / sum(gold), tp / sum(seen)
    assert recall >= 0.95 and precision >= 0.88, (recall, precision)


def test_two_request_messages_keep_both_parts(written):
    """Every disclosure part is kept; most two-request messages get both
    kinds right (measured 20 of 25; 14 before the parts were ordered)."""
    rows, preds = written
    two = [(r, p) for r, p in zip(rows, preds) if r["kind2"]]
    for r, p in two:
        if DIS in (r["kind"], r["kind2"]):
            assert DIS in (p.kind, p.secondary_kind), r["text"]
    both = sum({r["kind"], r["kind2"]} == {p.kind, p.secondary_kind} for r, p in two)
    assert both >= 17, both


def test_review_flags_few_and_catches_most_errors(written):
    """needs_review: at most a fifth of the messages, and most of the wrong
    ones (kind or topic; measured 15.0% flagged, 13 of 16 wrong caught)."""
    rows, preds = written
    flagged = [p.needs_review for p in preds]
    wrong = [r["kind"] != p.kind or r["topic"] != p.topic for r, p in zip(rows, preds)]
    caught = sum(f and w for f, w in zip(flagged, wrong))
    assert sum(flagged) / len(rows) <= 0.20, sum(flagged)
    assert caught / sum(wrong) >= 0.60, (caught, sum(wrong))


def test_message_board_kind(board):
    """Real citizens writing to a city's board about city matters: far from
    the office's own mail (measured 0.639; 0.628 before the third round)."""
    rows, preds = board
    kind = macro_f1([r["kind"] for r in rows], [p.kind for p in preds])
    assert kind >= 0.60, kind


def test_board_letters_both_labellers_read_alike(board, fresh_csv):
    """A second, blind labeller (heldout_board2_second.csv) agreed with the
    first on every letter it was sure of; on those plain letters the
    classifier must mostly agree too (measured 142 of 170, 0.835; 0.415 on
    the 130 mixed letters, where the labellers too disagree on 23)."""
    rows, preds = board
    second = {r["id"]: r for r in _rows(fresh_csv, "heldout_board2_second.csv")}
    assert set(second) == {r["id"] for r in rows}
    plain = [(r, p) for r, p in zip(rows, preds) if second[r["id"]]["confidence"] == "sure"]
    assert all(second[r["id"]]["kind"] == r["kind"] for r, _ in plain)
    right = sum(p.kind == r["kind"] for r, p in plain)
    assert right / len(plain) >= 0.80, (right, len(plain))


def test_board_letters_are_rarely_sent_as_disclosure_requests(board):
    """None of these letters asks for a document; a few still reach staff
    as one (measured 26 of 300, against 42 before the together rule's
    window)."""
    rows, preds = board
    assert not any(r["kind"] == DIS for r in rows)
    sent = sum(DIS in (p.kind, p.secondary_kind) for p in preds)
    assert sent <= 32, sent
