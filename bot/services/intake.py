"""Recording inbound messages: the one path by which every channel creates
or extends a case (WeChat, 12345 pushes and imports, the API's manual
entry, the disclosure dialog).

``record(rt, items)`` is the entry; ``record_batch(conn, items, policy)``
is the transaction itself: a handful of set-based statements for a whole
batch, the decisions taken by bot/domain/intake.py. While the application
runs, concurrent callers share transactions through the group committer;
every result (and the reply it carries) is returned only once its case is
committed. A caller with more to write about what it recorded (the
disclosure dialog: the dialog's row and the request's registration) hands
``record`` that work as ``then``: it runs in the same shared transaction,
so the case and its registration are committed together, at one commit
for the whole batch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timezone

from sqlalchemy.engine import Connection

from bot import metrics
from bot.domain import intake as rules
from bot.domain.casework import end_pause
from bot.domain.cases import InboundMessage, case_number
from bot.domain.hotline import accepted_message
from bot.domain.intake import IntakePolicy, IntakeResult
from bot.domain.lifecycle import Clock, answer_figures
from bot.domain.vocabulary import ANSWERED_STATUSES, OPEN_STATUSES, Channel, Status
from nlp.search_tokens import document_tokens
from storage.database import Tx, run_in
from storage.queries import intake as q
from storage.writer import GroupCommitter, raise_failures, retrying

from .runtime import Runtime

__all__ = ["IntakeResult", "record", "record_each", "record_batch", "group_committer"]

# A message may join its sender's open case, or one answered within the week.
THREADED = OPEN_STATUSES | ANSWERED_STATUSES


# The caller's own work on a message it has just recorded: ``then(tx, result)``
# in the recording's transaction.
Then = Callable[[Tx, IntakeResult], None]
Pending = tuple[InboundMessage, Then | None]


async def record(rt: Runtime, items: list[InboundMessage], *, then: Then | None = None) -> list[IntakeResult]:
    """Record ``items`` (in order, results in order). A retry of a stored
    delivery gets the stored answer; one bad item fails the call.

    ``then(tx, result)``, if given, runs for each item recorded now (not for
    a retry of a stored delivery) in the same transaction, after the batch's
    statements: what it writes is committed with the case, or neither is."""
    committer = rt.committer
    if committer is not None and committer.running:
        if len(items) == 1:
            return [await committer.submit((items[0], then))]
        return list(await asyncio.gather(*(committer.submit((item, then)) for item in items)))
    return raise_failures(await _write(rt, [(item, then) for item in items]))


async def record_each(rt: Runtime, items: list[InboundMessage]) -> list[IntakeResult | Exception]:
    """Like ``record``, but an item that fails comes back as its error and
    the others are recorded all the same (a 12345 batch: one bad order must
    not fail the good ones)."""
    committer = rt.committer
    if committer is not None and committer.running:
        results = await asyncio.gather(*(committer.submit((item, None)) for item in items), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, Exception):
                raise result  # cancelled: the request is gone
        return list(results)
    return await _write(rt, [(item, None) for item in items])


def _write(rt: Runtime, pending: list[Pending]):
    policy = rt.intake_policy()
    return retrying(lambda batch: rt.db.writer.transaction(_record_pending, batch, policy), pending)


def _record_pending(conn: Connection, pending: list[Pending], policy: IntakePolicy) -> list[IntakeResult]:
    """The batch, then each caller's ``then`` on its freshly recorded item,
    in the one transaction (its ORM work in one session, flushed together)."""
    results = record_batch(conn, [item for item, _ in pending], policy)
    follow_ups = [(then, result) for (_, then), result in zip(pending, results)
                  if then is not None and not result.duplicate]
    if follow_ups:
        # On SQLite the transaction holds other writes too (the writer's
        # group, each in a savepoint): the session keeps a savepoint of its
        # own. On PostgreSQL it is this batch's alone; a failure there fails
        # the batch (retrying() then redoes its items one by one).
        run_in(conn, _follow_up, follow_ups, savepoint=conn.dialect.name != "postgresql")
    return results


def _follow_up(tx: Tx, follow_ups: list[tuple[Then, IntakeResult]]) -> None:
    # The cases they are about, into the session at once: each ``then``'s
    # session.get(Case, id) then costs no statement of its own. Held here:
    # the identity map keeps an unchanged object only while it is referenced,
    # and a case let go is loaded again (flushing the session first).
    cases = q.load_cases(tx.session, sorted({result.case_id for _, result in follow_ups}))
    for then, result in follow_ups:
        then(tx, result)
    del cases


# Batches in flight at once on PostgreSQL, where a batch spends most of its
# time waiting for round trips (and for the event loop to see their
# answers), which a second batch can use. SQLite's one writer runs one
# transaction at a time: one lane.
POSTGRESQL_LANES = 3


def group_committer(rt: Runtime) -> GroupCommitter[Pending, IntakeResult]:
    """The process's batcher of inbound messages (started by the assembly)."""
    lanes = POSTGRESQL_LANES if rt.db.engine.dialect.name == "postgresql" else 1
    return GroupCommitter(lambda batch: _write(rt, batch), on_batch=metrics.COMMIT_BATCH.observe,
                          lanes=lanes, keys=_ordering_keys if lanes > 1 else None)


def _ordering_keys(pending: Pending) -> list[tuple]:
    """What two batches in flight must not share: a sender (their case, the
    thread it joins, their dialog), a delivery (a retry would be stored
    twice) and an order (12345 re-pushes)."""
    item = pending[0]
    keys = [("sender", item.channel, item.identity)]
    if item.dedupe_key:
        keys.append(("delivery", item.dedupe_key))
    if item.external_id:
        keys.append(("order", item.channel, item.external_id))
    return keys


def record_batch(conn: Connection, items: list[InboundMessage], policy: IntakePolicy, *,
                 now: datetime | None = None) -> list[IntakeResult]:
    """The batch in the caller's transaction."""
    now = now or datetime.now(timezone.utc)

    # 1. Retries of deliveries already stored get the same answer again.
    seen = q.existing_deliveries(conn, [i.dedupe_key for i in items if i.dedupe_key])
    external: dict[str, list[str]] = {}
    for i in items:
        if i.external_id:
            external.setdefault(i.channel, []).append(i.external_id)
    triage = rules.triage(items, seen, {ch: q.existing_external(conn, ch, ids) for ch, ids in external.items()})
    audit_rows: list[dict] = []
    if not triage.fresh:
        results = rules.finish(items, triage)
        q.insert_audit(conn, _entry_duplicates(items, results, now))
        return results

    # 2. Contacts, per channel.
    contact_ids: dict[tuple[str, str], int] = {}
    new_contacts: set[int] = set()  # inserted just now: no case of theirs to look for
    for channel, people in rules.contacts_wanted(items, triage.fresh).items():
        for identity, cid in q.ensure_contacts(conn, channel, people, new_contacts).items():
            contact_ids[(channel, identity)] = cid

    def contact_of(idx: int) -> int:
        return contact_ids[(items[idx].channel, items[idx].identity)]

    # 3. Which messages join an open case and which open one.
    open_cases = q.latest_cases_of(conn, [contact_of(i) for i in triage.fresh
                                          if items[i].thread and contact_of(i) not in new_contacts], THREADED)
    plan = rules.thread(items, triage.fresh, contact_of, open_cases, policy.thread_window)

    # 4. Case numbers: one reservation per office-local day, the days in
    # order (batches in flight at once lock their counters in one order).
    numbers: dict[int, str] = {}
    for day, idxs in sorted(rules.by_local_day(items, plan.creators, policy.tz).items()):
        for idx, seq in zip(idxs, q.allocate_sequences(conn, day, len(idxs))):
            numbers[idx] = case_number(items[idx].channel, day, seq)

    # 5. New cases.
    deadlines = {idx: rules.new_case_deadline(items[idx], policy) for idx in plan.creators}
    case_ids: dict[int, int] = {}
    if plan.creators:
        id_of = q.insert_cases(conn, [_case_row(items[idx], numbers[idx], deadlines[idx], contact_of(idx), policy, now)
                                      for idx in plan.creators])
        case_ids = {idx: id_of[numbers[idx]] for idx in plan.creators}

    # 6. Joined cases: activity bumped; a greeting's case takes the kind of
    #    the first message that says what it is about; a case waiting for
    #    the citizen runs again.
    waiting: dict[int, int] = {}
    classified: dict[int, bool] = {}  # item index → whether the kind it gave the case brought a deadline
    for idx, joined in plan.joins.items():
        case_id, kind, status, last_at = joined[0], joined[2], joined[3], joined[4]
        it = items[idx]
        values = {"last_message_at": max(it.received_at, last_at), "updated_at": now}
        if status in ANSWERED_STATUSES:  # a follow-up of the answer: staff must look
            values["follow_up_at"] = it.received_at
        if status in OPEN_STATUSES and rules.takes_kind_of(kind, it):
            c = it.classification
            values.update(kind=c.kind, topic=c.topic, confidence=c.confidence, matched=list(c.matched),
                          needs_review=c.needs_review, classified_by=c.source,
                          secondary_kind=getattr(c, "secondary_kind", None))
            deadline = rules.kind_deadline(joined, c.kind, it.channel, policy)
            values.update(deadline)
            classified[idx] = deadline.get("deadline_at") is not None if deadline else True
            audit_rows.append(_audit(now, f"channel:{it.channel}", "case.classified", case_id, {
                "kind": [kind, c.kind], "deadline_days": deadline.get("deadline_days"),
                "deadline_at": deadline["deadline_at"].isoformat() if deadline.get("deadline_at") else None}))
        q.update_case(conn, case_id, values)
        if status == Status.WAITING:
            waiting[case_id] = idx
    if waiting:
        audit_rows += _resume_waiting(conn, waiting, items, policy, now)

    # 7. Messages, replies, audit.
    message_rows, answer_rows = [], []
    for idx in plan.order:
        it = items[idx]
        if idx in plan.joins:
            case_id, number, kind = plan.joins[idx][:3]
            result = IntakeResult(case_id, number, kind, None, joined=True)
            if idx in classified:
                result.kind, result.classified = it.classification.kind, True
        elif plan.target[idx] == idx:
            result = IntakeResult(case_ids[idx], numbers[idx], it.classification.kind, None, created=True,
                                  deadline_at=deadlines[idx][0])
        else:
            first = plan.target[idx]
            result = IntakeResult(case_ids[first], numbers[first], items[first].classification.kind, None,
                                  joined=True)
            # A later message of the same batch: keep the case's activity current.
            q.update_case(conn, result.case_id, {"last_message_at": it.received_at, "updated_at": now})
        if result.created:
            has_deadline = deadlines[idx][0] is not None
        else:
            has_deadline = not result.classified or classified[idx]
        result.reply_text = rules.reply_text(it, result, policy, has_deadline=has_deadline)
        triage.results[idx] = result
        cid = contact_of(idx)
        message_rows.append({
            "case_id": result.case_id, "contact_id": cid, "direction": "in", "channel": it.channel,
            "msg_type": it.msg_type, "text": it.text, "raw": it.raw, "dedupe_key": it.dedupe_key,
            "reply_text": result.reply_text, "status": "received", "created_at": it.received_at,
        })
        if it.passive_reply:  # the reply, in the same statement (same keys)
            message_rows.append({
                "case_id": result.case_id, "contact_id": cid, "direction": "out", "channel": it.channel,
                "msg_type": "text", "text": result.reply_text, "raw": None, "dedupe_key": None,
                "reply_text": None, "status": "sent", "created_at": now,
            })
        if it.auto_answer is not None:
            aa = it.auto_answer
            answer_rows.append({"case_id": result.case_id, "entry_id": aa.entry_id, "entry_key": aa.entry_key,
                                "score": aa.score, "question": it.text, "needs_person": aa.needs_person,
                                "at": it.received_at})
            audit_rows.append(_audit(now, f"channel:{it.channel}", "kb.auto_answered", result.case_id, aa.as_dict()))
        if result.created:
            audit_rows.append(_audit(now, f"channel:{it.channel}", "case.created", result.case_id,
                                     {"number": result.number, "classification": it.classification.as_dict()}))
            if it.entered_by:
                audit_rows.append(_audit(now, it.entered_by, "case.entered", result.case_id, {"channel": it.channel}))
            if it.imported_by:
                audit_rows.append(_audit(now, it.imported_by, "case.imported", result.case_id, {}))
    results = rules.finish(items, triage)
    audit_rows.extend(_entry_duplicates(items, results, now))
    outbox_rows = [_signed_for(items[idx], case_ids[idx], now) for idx in plan.creators if items[idx].sign_for]
    if outbox_rows:
        q.insert_outbox(conn, outbox_rows)
        audit_rows.extend(_audit(now, f"channel:{items[idx].channel}", "case.accepted", case_ids[idx],
                                 {"auto": True, "handler": items[idx].sign_for})
                          for idx in plan.creators if items[idx].sign_for)
    q.insert_messages(conn, message_rows)
    q.insert_audit(conn, audit_rows)
    q.insert_kb_answers(conn, answer_rows)
    return results


def _case_row(it: InboundMessage, number: str, deadline: tuple, contact_id: int, policy: IntakePolicy,
              now: datetime) -> dict:
    c = it.classification
    local = it.received_at.astimezone(policy.tz)
    status, answered_at, closed_at = rules.initial_state(it, now)
    answered_date, working_days = (answer_figures(it.received_at, answered_at, Clock(policy.tz, policy.calendar))
                                   if answered_at else (None, None))
    return {
        "number": number, "channel": it.channel, "kind": c.kind, "topic": c.topic,
        "confidence": c.confidence, "matched": list(c.matched), "needs_review": c.needs_review,
        "classified_by": c.source, "secondary_kind": getattr(c, "secondary_kind", None), "title": it.title, "text": it.text, "status": status,
        "answered_at": answered_at, "answered_date": answered_date, "answer_working_days": working_days,
        "closed_at": closed_at,
        "received_at": it.received_at, "received_date": local.date(), "received_year": local.year,
        "last_message_at": it.received_at, "deadline_at": deadline[0], "deadline_days": deadline[1],
        "deadline_error": deadline[2], "contact_id": contact_id, "external_id": it.external_id,
        "created_at": now, "updated_at": now, "version": 1,
        "accepted_at": now if it.sign_for else it.accepted_at,
        "tracking_code_hash": it.tracking_code_hash, "publish_consent": it.publish_consent,
        "search_tokens": document_tokens(it.title, it.text),  # tokenised once, here
    }


def _signed_for(it: InboundMessage, case_id: int, now: datetime) -> dict:
    """签收 of a 12345 order as it is recorded, queued for the platform."""
    message = accepted_message(order_id=it.external_id, accepted_at=now, handler=it.sign_for)
    return {"target": Channel.HOTLINE, "case_id": case_id, "message_id": None, "payload": message,
            "status": "pending", "attempts": 0, "next_attempt_at": now, "locked_until": None, "last_error": None,
            "created_at": now, "sent_at": None}


def _audit(at: datetime, actor: str, action: str, case_id: int | None, detail: dict) -> dict:
    return {"at": at, "actor": actor, "action": action, "case_id": case_id, "detail": detail}


def _entry_duplicates(items: list[InboundMessage], results: list[IntakeResult], now: datetime) -> list[dict]:
    """A manual entry of something already recorded (before, or earlier in
    this very batch) is noted on that case."""
    return [_audit(now, it.entered_by, "case.entry_duplicate", results[i].case_id, {"channel": it.channel})
            for i, it in enumerate(items) if it.entered_by and results[i].duplicate]


class _Paused:
    """A waiting case's clock, as end_pause reads and changes it."""

    __slots__ = ("waiting_since", "deadline_at", "paused_days", "deadline_error")

    def __init__(self, since, deadline_at, paused, error):
        self.waiting_since, self.deadline_at, self.paused_days, self.deadline_error = since, deadline_at, paused or 0, error


def _resume_waiting(conn: Connection, waiting: dict[int, int], items: list[InboundMessage], policy: IntakePolicy,
                    now: datetime) -> list[dict]:
    """The citizen wrote to a case that waited for them: the clock runs
    again, the deadline moved back by the working days waited."""
    audit = []
    for case_id, since, deadline_at, paused, error in q.waiting_cases(conn, list(waiting)):
        clock = _Paused(since, deadline_at, paused, error)
        item = items[waiting[case_id]]
        detail = end_pause(clock, item.received_at, policy.calendar, policy.tz)
        if q.resume_case(conn, case_id, Status.WAITING, {
                "status": Status.IN_PROGRESS, "waiting_since": None, "deadline_at": clock.deadline_at,
                "paused_days": clock.paused_days, "deadline_error": clock.deadline_error, "updated_at": now}):
            audit.append(_audit(now, f"channel:{item.channel}", "case.resumed", case_id,
                                {"status": [Status.WAITING, Status.IN_PROGRESS], **detail}))
    return audit
