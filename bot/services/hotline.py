"""12345 work orders pushed by the platform: each valid order becomes a
case through the one recording path (committed before the platform is
answered); each order is answered on its own (accepted, duplicate, or
rejected with the reason)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from bot import metrics
from bot.domain import hotline
from bot.domain.vocabulary import Channel

from . import intake
from .runtime import Runtime


@dataclass
class OrdersOutcome:
    accepted: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    rejected: list[dict] = field(default_factory=list)  # {"order_id", "error", "field"}

    def as_dict(self) -> dict:
        return {"accepted": self.accepted, "duplicates": self.duplicates, "rejected": self.rejected}


def inbound_of(rt: Runtime, order: hotline.HotlineOrder, *, channel: str = Channel.HOTLINE, raw: object = None,
               kind: str | None = None, topic: str | None = None):
    """The order as the recording path takes it: the platform's 诉求类型 (or
    the file's kind) decides the kind, the classifier adds the topic."""
    classification = rt.classifier.classify(hotline.routing_text(order), hint_kind=kind or order.kind)
    return hotline.to_inbound(order, classification, channel=channel, raw=raw, topic=topic,
                              calendar=rt.calendar.current, tz=rt.settings.tz)


async def receive_orders(rt: Runtime, orders: list) -> OrdersOutcome:
    """``orders``: the pushed order objects (INTERFACES.md), as parsed JSON."""
    tz, now = rt.settings.tz, datetime.now(timezone.utc)
    await rt.calendar.refresh()
    outcome, items = OrdersOutcome(), []
    for raw in orders:
        try:
            order = hotline.validate_order(raw, tz, now=now)
        except hotline.OrderError as exc:
            oid = raw.get("order_id") if isinstance(raw, dict) else None
            outcome.rejected.append({"order_id": oid if isinstance(oid, (str, int)) else None, "error": str(exc),
                                     "field": exc.field})
            continue
        items.append(inbound_of(rt, order, raw=raw))
    if items:
        for item, result in zip(items, await intake.record(rt, items)):
            (outcome.duplicates if result.duplicate else outcome.accepted).append(item.external_id)
    metrics.MESSAGES.labels(Channel.HOTLINE, "accepted").inc(len(outcome.accepted))
    metrics.MESSAGES.labels(Channel.HOTLINE, "duplicate").inc(len(outcome.duplicates))
    if outcome.rejected:
        metrics.REJECTED.labels(Channel.HOTLINE, "order").inc(len(outcome.rejected))
    return outcome
