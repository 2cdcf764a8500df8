"""The 12345 platform's side of an order's life: orders pushed (or pulled)
become cases through the one recording path, signed for on receipt when
so configured; the platform's events (催办, 督办, 回访, 重办, its answers to
our 延期 and 退回 requests, 撤单) go through the lifecycle, each applied once
however often it comes; reconciliation pulls what a lost push missed.

The wire format is bot/domain/hotline_wire.py's; everything here speaks
the product's terms. Each order and each event is answered on its own
(accepted, duplicate, or rejected with the reason).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from bot import metrics
from bot.domain import hotline
from bot.domain import hotline_wire as wire
from bot.domain.actors import Actor
from bot.domain.errors import Conflict, DomainError, InvalidInput
from bot.domain.lifecycle import Clock
from bot.domain.vocabulary import Channel, RatingSource, UrgeLevel
from bot.logs import kind_of
from storage.database import Tx, is_outage
from storage.queries import hotline as q
from storage.queries import kv

from . import intake, lifecycle
from .runtime import Runtime

log = logging.getLogger(__name__)

PLATFORM = Actor("platform:12345", display_name="12345平台")
AUTO_HANDLER = "自动签收"
SYNC_SINCE_KEY = "hotline.sync.since"
SYNC_LEASE_KEY = "hotline.sync.lease"
SYNC_LAST_KEY = "hotline.sync.last"  # when the last successful sync began
SYNC_RUN_LEASE = timedelta(minutes=30)  # longer than any sync takes; a crashed holder's lease lapses
MAX_PAGES = 10_000  # one reconciliation: a platform that keeps answering with a cursor is stopped here


@dataclass
class Outcome:
    """Per order or event: accepted, a duplicate, or rejected with why."""

    accepted: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    rejected: list[dict] = field(default_factory=list)  # {id key, "error", "message", "field"?}

    def as_dict(self) -> dict:
        return {"accepted": self.accepted, "duplicates": self.duplicates, "rejected": self.rejected}


# ---- orders ---------------------------------------------------------------------------

def inbound_of(rt: Runtime, order: hotline.HotlineOrder, *, channel: str = Channel.HOTLINE, raw: object = None,
               kind: str | None = None, topic: str | None = None, sign_for: str | None = None,
               accepted_at: datetime | None = None):
    """The order as the recording path takes it: the platform's 诉求类型 (or
    the file's kind) decides the kind, the classifier adds the topic."""
    classification = rt.classifier.classify(hotline.routing_text(order), hint_kind=kind or order.kind)
    return hotline.to_inbound(order, classification, channel=channel, raw=raw, topic=topic,
                              calendar=rt.calendar.current, tz=rt.settings.tz, sign_for=sign_for,
                              accepted_at=accepted_at)


async def receive_orders(rt: Runtime, orders: list) -> Outcome:
    """``orders``: order objects as the platform sends them (pushed or pulled)."""
    tz, now = rt.settings.tz, datetime.now(timezone.utc)
    await rt.calendar.refresh()
    sign_for = (rt.settings.office_name or AUTO_HANDLER) if rt.settings.hotline_auto_accept else None
    outcome, items = Outcome(), []
    for raw in orders:
        try:
            order = wire.read_order(raw, tz, now=now)
        except hotline.OrderError as exc:
            outcome.rejected.append({"order_id": wire.order_id_of(raw), "error": str(exc), "field": exc.field})
            continue
        items.append(inbound_of(rt, order, raw=raw, sign_for=sign_for))
    if items:
        for item, result in zip(items, await intake.record_each(rt, items)):
            if isinstance(result, Exception):
                if is_outage(result):  # the database away: the push fails as a whole, and is pushed again
                    raise result
                # This order alone could not be stored (whatever it raised):
                # refused on its own, the others are taken.
                log.error("12345 order %s could not be recorded: %s", item.external_id, kind_of(result),
                          exc_info=(type(result), result, result.__traceback__))
                outcome.rejected.append({"order_id": item.external_id, "error": "该工单无法保存，请核对内容后重新推送",
                                         "field": None})
                continue
            (outcome.duplicates if result.duplicate else outcome.accepted).append(item.external_id)
        if sign_for and outcome.accepted:
            rt.outbox_queued()
    metrics.MESSAGES.labels(Channel.HOTLINE, "accepted").inc(len(outcome.accepted))
    metrics.MESSAGES.labels(Channel.HOTLINE, "duplicate").inc(len(outcome.duplicates))
    if outcome.rejected:
        metrics.REJECTED.labels(Channel.HOTLINE, "order").inc(len(outcome.rejected))
    return outcome


# ---- events ---------------------------------------------------------------------------

def _apply(tx: Tx, rt: Runtime, clock: Clock, event: hotline.HotlineEvent, case) -> None:
    """One event through the lifecycle, as the platform."""
    f, now = event.fields, event.at
    if event.type in ("urge", "supervise"):
        level = UrgeLevel.URGE if event.type == "urge" else UrgeLevel.SUPERVISE
        lifecycle.urge_in(tx, PLATFORM, case, level, f.get("note"), now)
    elif event.type == "rating":
        lifecycle.rate_in(tx, rt, clock, PLATFORM, case, f["score"], RatingSource.PLATFORM, f.get("comment"), now)
    elif event.type == "redo":
        lifecycle.redo_in(tx, rt, clock, PLATFORM, case, f["reason"], f.get("deadline"), now)
    elif event.type == "extension_result":
        lifecycle.decide_extension_in(tx, rt, clock, PLATFORM, case, f["approved"], note=f.get("reason"),
                                      deadline=f.get("deadline"), now=now)
    elif event.type == "return_result":
        lifecycle.decide_return_in(tx, clock, PLATFORM, case, f["approved"], f.get("reason"), now)
    elif event.type == "cancel":
        lifecycle.cancel_in(tx, PLATFORM, case, f["reason"], now)
    else:  # read_event lets no other type through
        raise InvalidInput(f"未知的事件类型 {event.type}", "type")


def _apply_batch(tx: Tx, rt: Runtime, clock: Clock, events: list[hotline.HotlineEvent], outcome: Outcome) -> None:
    """The events in order, in the caller's one transaction. An event is
    recorded first (a conflict: someone applied it meanwhile, a duplicate),
    then applied; the lifecycle refuses a step before it changes anything,
    so a refused event only takes its record back. One flush at the end
    writes the batch's rows together."""
    s = tx.session
    seen = q.applied_events(s, [e.event_id for e in events])
    cases = q.orders_by_id(s, {e.order_id for e in events})
    for event in events:
        if event.event_id in seen:
            outcome.duplicates.append(event.event_id)
            continue
        case = cases.get(event.order_id)
        if case is None:
            outcome.rejected.append({"event_id": event.event_id, "error": "unknown_order",
                                     "message": f"没有工单 {event.order_id}"})
            continue
        seen.add(event.event_id)
        if not q.record_event(tx.conn, event_id=event.event_id, order_id=event.order_id, type=event.type, at=event.at,
                              case_id=case.id, applied_at=datetime.now(timezone.utc)):
            outcome.duplicates.append(event.event_id)
            continue
        try:
            _apply(tx, rt, clock, event, case)
        except DomainError as exc:
            q.forget_event(tx.conn, event.event_id)
            code = "not_allowed" if isinstance(exc, Conflict) else "invalid"
            outcome.rejected.append({"event_id": event.event_id, "error": code, "message": exc.message,
                                     **({"field": exc.field} if exc.field else {})})
            continue
        outcome.accepted.append(event.event_id)
    s.flush()


async def apply_events(rt: Runtime, raw_events: list) -> Outcome:
    """The platform's events (pushed or pulled), in order, each applied once,
    in one transaction; a refused event changes nothing and the others still
    apply."""
    tz = rt.settings.tz
    outcome, events = Outcome(), []
    for raw in raw_events:
        try:
            events.append(wire.read_event(raw, tz))
        except wire.EventError as exc:
            outcome.rejected.append({"event_id": wire.event_id_of(raw), "error": exc.code, "message": exc.message,
                                     **({"field": exc.field} if exc.field else {})})
    if events:
        clock = Clock(tz, await rt.calendar.refresh())
        await rt.db.write(_apply_batch, rt, clock, events, outcome)
        rt.outbox_queued()
    metrics.MESSAGES.labels("hotline_event", "accepted").inc(len(outcome.accepted))
    metrics.MESSAGES.labels("hotline_event", "duplicate").inc(len(outcome.duplicates))
    if outcome.rejected:
        metrics.REJECTED.labels("hotline_event", "event").inc(len(outcome.rejected))
    return outcome


# ---- reconciliation ---------------------------------------------------------------------

PageFetcher = Callable[[datetime | None, str | None], Awaitable[object]]


@dataclass
class SyncOutcome:
    since: datetime | None
    until: datetime | None
    pages: int = 0
    orders: Outcome = field(default_factory=Outcome)
    events: Outcome = field(default_factory=Outcome)


def _merge(into: Outcome, part: Outcome) -> None:
    into.accepted += part.accepted
    into.duplicates += part.duplicates
    into.rejected += part.rejected


async def sync(rt: Runtime, fetch_page: PageFetcher, *, since: datetime | None = None) -> SyncOutcome:
    """Pull the orders and events changed since ``since`` (by default, since
    the last sync) page by page and apply them through the same idempotent
    paths as the pushes: what a lost push missed arrives, nothing is applied
    twice. The next sync starts where the platform says this one ends."""
    tz = rt.settings.tz
    if since is None:
        stored = await rt.db.read(lambda tx: kv.get_value(tx.session, SYNC_SINCE_KEY))
        since = datetime.fromisoformat(stored) if stored else None
    started = datetime.now(timezone.utc)
    outcome, cursor, until = SyncOutcome(since, None), None, None
    while outcome.pages < MAX_PAGES:
        orders, events, cursor, until = wire.read_page(await fetch_page(since, cursor), tz)
        outcome.pages += 1
        if orders:
            _merge(outcome.orders, await receive_orders(rt, orders))
        if events:
            _merge(outcome.events, await apply_events(rt, events))
        if cursor is None:
            break
    else:
        log.warning("12345 reconciliation stopped after %d pages; the next one goes on from the start", MAX_PAGES)
        return outcome
    # Where the next sync starts: the platform's word, else (a little before) when this one began.
    outcome.until = until or started - timedelta(minutes=5)
    await rt.db.write(lambda tx: kv.set_value(tx.session, SYNC_SINCE_KEY, outcome.until.isoformat()))
    log.info("12345 reconciliation: %d page(s), orders %d new / %d known / %d refused, events %d applied / "
             "%d known / %d refused", outcome.pages, len(outcome.orders.accepted), len(outcome.orders.duplicates),
             len(outcome.orders.rejected), len(outcome.events.accepted), len(outcome.events.duplicates),
             len(outcome.events.rejected))
    return outcome


async def sync_if_due(rt: Runtime, fetch_page: PageFetcher, holder: str, every: timedelta, *,
                      at_start: bool = False) -> SyncOutcome | None:
    """The periodic job, run by every worker each ``every``: a sync when the
    last one began ``every`` ago or more, or when this process has just
    started (pushes may have been lost while it was down); one at a time
    over all workers (a lease held while it runs), the others skip."""
    now = datetime.now(timezone.utc)
    if not at_start:
        last = await rt.db.read(lambda tx: kv.get_value(tx.session, SYNC_LAST_KEY))
        if last and now - datetime.fromisoformat(last) < every * 0.9:  # a little early is due: rounds drift
            return None
    if not await rt.db.write(lambda tx: kv.take_lease(tx.session, SYNC_LEASE_KEY, holder, now + SYNC_RUN_LEASE)):
        return None
    try:
        outcome = await sync(rt, fetch_page)
        await rt.db.write(lambda tx: kv.set_value(tx.session, SYNC_LAST_KEY, now.isoformat()))
        return outcome
    finally:
        await rt.db.write(lambda tx: kv.release_lease(tx.session, SYNC_LEASE_KEY, holder))
