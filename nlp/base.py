"""The routing seam: what every channel asks of the classifier.

Channels and the domain core depend only on this module; how a text is
routed (rules, a learned model, both) lives behind ``Classifier``.
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
KIND_LABELS: dict[str, str] = {
    "consultation": "咨询",
    "help": "求助",
    "complaint": "投诉",
    "report": "举报",
    "suggestion": "建议",
    "praise": "表扬",
    "disclosure_request": "政府信息公开申请",
    "other": "其他",
}
TOPIC_LABELS: dict[str, str] = {
    "parking": "人防车位",
    "shelter": "人防工程",
    "siren": "防空警报",
    "fee": "易地建设费/收费",
    "permit": "行政许可",
    "education": "宣传教育/演练",
    "procurement": "招投标/采购",
    "general": "综合",
}
# The 12345 platform's own 诉求类型 → our kind key.
HOTLINE_REQUEST_TYPES: dict[str, str] = {
    "咨询": "consultation",
    "求助": "help",
    "投诉": "complaint",
    "举报": "report",
    "建议": "suggestion",
    "表扬": "praise",
    "其他": "other",
    "依申请公开": "disclosure_request",
}


@dataclass(frozen=True, slots=True)
class Classification:
    kind: str
    topic: str
    confidence: float  # 0..1
    matched: tuple[str, ...] = field(default_factory=tuple)  # the words that decided it
    needs_review: bool = False  # low confidence: a person should look
    source: str = "rules"  # rules | model | combined | feed | staff

    def as_dict(self) -> dict:
        return {
            "kind": self.kind,
            "topic": self.topic,
            "confidence": round(self.confidence, 3),
            "matched": list(self.matched),
            "needs_review": self.needs_review,
            "source": self.source,
        }


class Classifier(Protocol):
    def classify(self, text: str, *, hint_kind: str | None = None) -> Classification:
        """Route one text. ``hint_kind`` is a kind the channel already knows
        (e.g. the 12345 feed's 诉求类型); it is kept, and only the topic is
        inferred. Must never raise on any str input."""
        ...
