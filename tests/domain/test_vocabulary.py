"""The vocabulary is one place each: the classifier speaks it, the open
cases' index holds its open statuses, and every key has its label."""

from __future__ import annotations

import json

import pytest

from bot.app import check_classifier_labels
from bot.domain import vocabulary as v
from nlp import labels
from storage.models import OPEN_CASE_STATUSES


def test_the_classifier_labels_are_the_products_kinds_and_topics_in_order():
    assert tuple(labels.KINDS) == tuple(v.KINDS)
    assert tuple(labels.TOPICS) == tuple(v.TOPICS)
    check_classifier_labels()  # what the application checks at start-up


def test_a_classifier_with_other_labels_stops_the_start(monkeypatch):
    monkeypatch.setattr(labels, "KINDS", (*labels.KINDS, "petition"))
    with pytest.raises(RuntimeError, match="petition"):
        check_classifier_labels()


def test_the_classifier_reads_every_kind_by_its_chinese_name_and_12345_type():
    for kind, label in v.KIND_LABELS.items():
        assert labels.HINT_WORDS[label] == kind
    for word, kind in v.HOTLINE_REQUEST_TYPES.items():
        assert labels.HINT_WORDS[word] == kind


def test_the_open_cases_index_holds_exactly_the_open_statuses():
    assert set(OPEN_CASE_STATUSES) == set(v.OPEN_STATUSES)


@pytest.mark.parametrize("enum, label_of", [
    (v.Channel, v.CHANNEL_LABELS), (v.Kind, v.KIND_LABELS), (v.Topic, v.TOPIC_LABELS), (v.Status, v.STATUS_LABELS),
])
def test_every_key_has_a_chinese_label(enum, label_of):
    assert set(label_of) == set(enum)
    assert all(member.label == label_of[member] and member.label for member in enum)


def test_members_are_their_keys_wherever_they_go():
    assert v.Kind.COMPLAINT == "complaint" and {"complaint": 1}[v.Kind.COMPLAINT] == 1
    assert json.dumps({"status": v.Status.WAITING}) == '{"status": "waiting"}'
    assert f"{v.Channel.HOTLINE}" == "hotline" and ", ".join(v.CHANNELS).startswith("wechat, hotline")
    assert set(v.CHANNEL_PREFIX) == set(v.Channel) and len(set(v.CHANNEL_PREFIX.values())) == len(v.Channel)


def test_applicant_types_are_labelled_as_the_official_table_heads_its_columns():
    from bot.domain.disclosure import report_tables

    columns = {c["key"]: c for c in report_tables()["table3_columns"]["columns"]}
    assert set(v.APPLICANT_TYPE_LABELS) == set(v.APPLICANT_TYPES)
    for key, label in v.APPLICANT_TYPE_LABELS.items():
        c = columns[key]
        assert label == (f"{c['group']}·{c['label']}" if c["group"] else c["label"])


def test_the_outbox_and_classification_sources_have_chinese_labels():
    assert set(v.OUTBOX_STATUS_LABELS) == {"pending", "sent", "failed"}
    assert {"hotline", "wechat", "wechat_notice"} <= set(v.OUTBOX_TARGET_LABELS)
    for table in (v.OUTBOX_STATUS_LABELS, v.OUTBOX_TARGET_LABELS, v.CLASSIFIED_BY_LABELS):
        assert all(not any(ch.isascii() and ch.isalpha() for ch in text.replace("12345", "")) for text in table.values())
