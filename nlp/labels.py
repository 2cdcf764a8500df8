"""The classifier's contract: its label space, what it answers
(``Classification``) and how it is asked (``Classifier``).

The labels are the product's kinds and topics (bot/domain/vocabulary.py,
which owns their names and meaning); nlp may not import the product, so
this is the classifier's own copy, in the order of its model's columns, and
the application refuses to start when the two differ (bot/app.py, and a
test). ``HINT_WORDS`` are the other names a caller may give a known kind by
(the 12345 platform's 诉求类型, the kinds' Chinese names).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

# Stable keys (shared/spec/DOMAIN.md §2). Order is the display order.
KINDS: tuple[str, ...] = (
    "consultation",
    "help",
    "complaint",
    "report",
    "suggestion",
    "praise",
    "disclosure_request",
    "other",
)
TOPICS: tuple[str, ...] = (
    "parking",
    "shelter",
    "siren",
    "fee",
    "permit",
    "education",
    "procurement",
    "general",
)
# Kind names as people and the 12345 platform write them → kind key.
HINT_WORDS: dict[str, str] = {
    "咨询": "consultation", "求助": "help", "投诉": "complaint", "举报": "report", "建议": "suggestion",
    "表扬": "praise", "政府信息公开申请": "disclosure_request", "依申请公开": "disclosure_request", "其他": "other",
}


@dataclass(frozen=True, slots=True)
class Classification:
    kind: str
    topic: str
    confidence: float  # 0..1
    matched: tuple[str, ...] = field(default_factory=tuple)  # the words that decided it
    needs_review: bool = False  # low confidence: a person should look
    source: str = "rules"  # rules | model | combined | feed | staff
    # a second request in the same message (e.g. a complaint that also asks
    # for a document), or the kind the classifier could not rule out
    # (a consultation that may be a disclosure request); None: none seen
    secondary_kind: str | None = None

    def as_dict(self) -> dict:
        return {
            "kind": self.kind,
            "topic": self.topic,
            "confidence": round(self.confidence, 3),
            "matched": list(self.matched),
            "needs_review": self.needs_review,
            "source": self.source,
            "secondary_kind": self.secondary_kind,
        }


class Classifier(Protocol):
    def classify(self, text: str, *, hint_kind: str | None = None) -> Classification:
        """Route one text. ``hint_kind`` is a kind the channel already knows
        (e.g. the 12345 feed's 诉求类型); it is kept, and only the topic is
        inferred. Must never raise on any str input."""
        ...
