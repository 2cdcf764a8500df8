"""Recording inbound messages: the one path by which any channel creates or
extends a case (WeChat, 12345 pushes, imports, manual entry).

``record_inbound_sync`` does a whole batch in one transaction with a handful
of set-based statements; ``GroupCommitter`` feeds it from many concurrent
requests (group commit) through ``IntakeWriter``, so every reply still
leaves only after its own case is committed.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from urllib.parse import quote as quote_path
from concurrent.futures import ThreadPoolExecutor
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cached_property
from typing import TypeVar
from datetime import datetime, timedelta, timezone

from sqlalchemy import String, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage import queries
from storage.db import create_sync_engine
from storage.models import AuditEntry, Case, KbAnswer, Message
from storage.sqlite_fast import SQLITE_MAX_VARIABLES, BulkInsert

from . import metrics
from .answers import auto_reply_text
from .cases import OPEN_STATUSES, InboundMessage, case_number, compute_deadline, joins_open_case, receipt_text
from .config import Settings
from .search import document_tokens
from .workdays import WorkingCalendar

log = logging.getLogger(__name__)


@dataclass(slots=True)
class IntakeResult:
    case_id: int | None
    number: str | None
    kind: str | None
    reply_text: str | None
    created: bool = False  # a new case
    joined: bool = False  # appended to the sender's open case
    duplicate: bool = False  # a retry of a delivery already recorded
    deadline_at: datetime | None = None


@dataclass(frozen=True)
class IntakeContext:
    settings: Settings
    calendar: WorkingCalendar


# Prepared once: see storage/sqlite_fast.py.
_NEW_CASES = BulkInsert(Case.__table__, returning=("id", "number"))
_NEW_MESSAGES = BulkInsert(Message.__table__)
_NEW_AUDIT = BulkInsert(AuditEntry.__table__)
_NEW_ANSWERS = BulkInsert(KbAnswer.__table__)


def record_inbound_sync(
    conn: Connection, items: list[InboundMessage], ctx: IntakeContext, *, now: datetime | None = None
) -> list[IntakeResult]:
    settings = ctx.settings
    tz = settings.tz
    now = now or datetime.now(timezone.utc)
    results: list[IntakeResult | None] = [None] * len(items)

    # 1. Retries of deliveries already stored get the same answer again.
    seen = queries.existing_deliveries(conn, [i.dedupe_key for i in items if i.dedupe_key])
    by_external: dict[str, dict[str, tuple]] = {}
    for channel in {i.channel for i in items if i.external_id}:
        by_external[channel] = queries.existing_external(
            conn, channel, [i.external_id for i in items if i.external_id and i.channel == channel]
        )
    first_of_key: dict[str, int] = {}
    fresh: list[int] = []
    for idx, item in enumerate(items):
        key = item.dedupe_key
        if key and key in seen:
            case_id, reply, number, kind = seen[key]
            results[idx] = IntakeResult(case_id, number, kind, reply, duplicate=True)
        elif item.external_id and item.external_id in by_external.get(item.channel, {}):
            case_id, number, kind = by_external[item.channel][item.external_id]
            results[idx] = IntakeResult(case_id, number, kind, None, duplicate=True)
        else:
            ext = f"ext:{item.channel}:{item.external_id}" if item.external_id else None
            batch_key = key or ext
            if batch_key and batch_key in first_of_key:
                continue  # same delivery twice in one batch: resolved below
            if batch_key:
                first_of_key[batch_key] = idx
            fresh.append(idx)
    if not fresh:
        return _fill_batch_duplicates(items, results, first_of_key)

    # 2. Contacts, per channel.
    contact_ids: dict[tuple[str, str], int] = {}
    people: dict[str, dict[str, dict]] = defaultdict(dict)
    for idx in fresh:
        it = items[idx]
        people[it.channel].setdefault(
            it.identity, {"name": it.contact_name, "phone": it.contact_phone,
                          "applicant_type": it.applicant_type, "at": it.received_at}
        )
    for channel, group in people.items():
        for identity, cid in (queries.ensure_contacts(conn, channel, group)).items():
            contact_ids[(channel, identity)] = cid

    # 3. Which messages join an open case (the sender's latest, or one created
    #    earlier in this very batch).
    threaded = [contact_ids[(items[i].channel, items[i].identity)] for i in fresh if items[i].thread]
    open_cases = queries.open_cases_of(conn, threaded, OPEN_STATUSES)
    window = timedelta(minutes=settings.thread_window_minutes)
    plan: list[tuple[int, int | None]] = []  # (item index, index of the item whose case it joins or None)
    batch_open: dict[int, int] = {}  # contact id → index of the item creating a case in this batch
    join_existing: dict[int, tuple] = {}
    for idx in fresh:
        it = items[idx]
        cid = contact_ids[(it.channel, it.identity)]
        if it.thread and cid in batch_open and joins_open_case(
                items[batch_open[cid]].received_at, "new", it.received_at, window):
            plan.append((idx, batch_open[cid]))
            continue
        if it.thread and cid in open_cases:
            case_id, number, kind, status, last_at = open_cases[cid]
            if joins_open_case(last_at, status, it.received_at, window):
                join_existing[idx] = open_cases[cid]
                plan.append((idx, None))
                continue
        plan.append((idx, idx))
        if it.thread and not _answered_on_the_spot(it):  # an answered case takes no follow-ups
            batch_open[cid] = idx

    creators = [idx for idx, target in plan if target == idx]

    # 4. Case numbers: one reservation per office-local day.
    per_day: dict = defaultdict(list)
    for idx in creators:
        per_day[items[idx].received_at.astimezone(tz).date()].append(idx)
    numbers: dict[int, str] = {}
    for day, idxs in per_day.items():
        seqs = queries.allocate_sequences(conn, day, len(idxs))
        for idx, seq in zip(idxs, seqs):
            numbers[idx] = case_number(items[idx].channel, day, seq)

    # 5. New cases.
    case_rows = []
    deadlines: dict[int, tuple] = {}
    for idx in creators:
        it = items[idx]
        c = it.classification
        days = settings.deadline_days_for(it.channel, c.kind)
        if it.deadline_at is not None:
            deadline = (it.deadline_at, None, None)
        else:
            d = compute_deadline(it.received_at, days, tz, ctx.calendar)
            deadline = (d.due_at, days, d.error)
        deadlines[idx] = deadline
        local = it.received_at.astimezone(tz)
        case_rows.append({
            "number": numbers[idx], "channel": it.channel, "kind": c.kind, "topic": c.topic,
            "confidence": c.confidence, "matched": list(c.matched), "needs_review": c.needs_review,
            "classified_by": c.source, "title": it.title, "text": it.text,
            "status": "answered" if _answered_on_the_spot(it) else "new",
            "answered_at": it.received_at if _answered_on_the_spot(it) else None,
            "received_at": it.received_at, "received_date": local.date(), "received_year": local.year,
            "last_message_at": it.received_at, "deadline_at": deadline[0], "deadline_days": deadline[1],
            "deadline_error": deadline[2], "contact_id": contact_ids[(it.channel, it.identity)],
            "external_id": it.external_id, "created_at": now, "updated_at": now, "version": 1,
            "search_tokens": document_tokens(it.title, it.text),  # tokenised once, here
        })
    case_ids: dict[int, int] = {}
    if case_rows:
        # Matched back by number: RETURNING promises no row order.
        rows = _NEW_CASES(conn, case_rows)
        id_of = {number: case_id for case_id, number in rows}
        for idx in creators:
            case_ids[idx] = id_of[numbers[idx]]

    # 6. Joined cases: bump activity; a case opened by a bare greeting takes
    #    the kind of the first message that says what it is about.
    for idx, (case_id, number, kind, status, last_at) in join_existing.items():
        it = items[idx]
        values = {"last_message_at": max(it.received_at, last_at), "updated_at": now}
        c = it.classification
        if kind == "other" and c.kind != "other" and it.msg_type == "text":
            values.update(kind=c.kind, topic=c.topic, confidence=c.confidence, matched=list(c.matched),
                          needs_review=c.needs_review, classified_by=c.source)
        conn.execute(update(Case).where(Case.id == case_id).values(**values))
    waiting = {join_existing[idx][0]: idx for idx in join_existing if join_existing[idx][3] == "waiting"}
    if waiting:
        _resume_waiting(conn, waiting, items, ctx, now)

    # 7. Messages, replies, audit.
    message_rows, audit_rows, answer_rows = [], [], []
    for idx, target in plan:
        it = items[idx]
        if idx in join_existing:
            case_id, number, kind, _status, _last = join_existing[idx]
            result = IntakeResult(case_id, number, kind, None, joined=True)
        elif target == idx:
            result = IntakeResult(case_ids[idx], numbers[idx], it.classification.kind, None,
                                  created=True, deadline_at=deadlines[idx][0])
        else:
            result = IntakeResult(case_ids[target], numbers[target], items[target].classification.kind,
                                  None, joined=True)
            # A later message in the same batch: keep the case's activity current.
            conn.execute(update(Case).where(Case.id == result.case_id)
                               .values(last_message_at=it.received_at, updated_at=now))
        result.reply_text = receipt_text(
            kind=result.kind or "other", number=result.number or "",
            days=settings.deadline_days_for(it.channel, result.kind or "other"),
            joined=result.joined, msg_type=it.msg_type,
            has_deadline=not result.created or deadlines[idx][0] is not None,
        )
        if it.auto_answer is not None:
            aa = it.auto_answer
            has_deadline = not result.created or deadlines[idx][0] is not None
            result.reply_text = auto_reply_text(
                aa.answer, result.number or "", needs_person=aa.needs_person, joined=result.joined,
                days=settings.deadline_days_for(it.channel, result.kind or "other") if has_deadline else None)
            answer_rows.append({"case_id": result.case_id, "entry_id": aa.entry_id, "entry_key": aa.entry_key,
                                "score": aa.score, "question": it.text, "needs_person": aa.needs_person,
                                "at": it.received_at})
            audit_rows.append({"at": now, "actor": f"channel:{it.channel}", "action": "kb.auto_answered",
                               "case_id": result.case_id, "detail": aa.as_dict()})
        results[idx] = result
        cid = contact_ids[(it.channel, it.identity)]
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
        if result.created:
            audit_rows.append({"at": now, "actor": f"channel:{it.channel}", "action": "case.created",
                               "case_id": result.case_id,
                               "detail": {"number": result.number, "classification": it.classification.as_dict()}})
    _NEW_MESSAGES(conn, message_rows)
    _NEW_AUDIT(conn, audit_rows)
    _NEW_ANSWERS(conn, answer_rows)
    return _fill_batch_duplicates(items, results, first_of_key)


def _answered_on_the_spot(item: InboundMessage) -> bool:
    """A knowledge-base answer that needs no person settles the case it opens."""
    return item.auto_answer is not None and not item.auto_answer.needs_person


def _resume_waiting(conn: Connection, waiting: dict[int, int], items: list[InboundMessage],
                          ctx: IntakeContext, now: datetime) -> None:
    """The citizen wrote to a case that waited for them (inbox, issue 5): the
    clock runs again, the deadline moved back by the working days waited."""
    from types import SimpleNamespace

    from .casework import end_pause  # casework → hotline → …: import late

    rows = conn.execute(select(Case.id, Case.waiting_since, Case.deadline_at, Case.paused_days,
                                     Case.deadline_error).where(Case.id.in_(list(waiting))))
    for case_id, since, deadline_at, paused, error in rows:
        state = SimpleNamespace(waiting_since=since, deadline_at=deadline_at, paused_days=paused or 0,
                                deadline_error=error)
        detail = end_pause(state, items[waiting[case_id]].received_at, ctx.calendar, ctx.settings.tz)
        conn.execute(update(Case).where(Case.id == case_id, Case.status == "waiting").values(
            status="in_progress", waiting_since=None, deadline_at=state.deadline_at, paused_days=state.paused_days,
            deadline_error=state.deadline_error, version=Case.version + 1, updated_at=now))
        conn.execute(insert(AuditEntry).values(
            at=now, actor=f"channel:{items[waiting[case_id]].channel}", action="case.resumed", case_id=case_id,
            detail={"status": ["waiting", "in_progress"], **detail}))


def _fill_batch_duplicates(items, results, first_of_key) -> list[IntakeResult]:
    for idx, item in enumerate(items):
        if results[idx] is None:
            key = item.dedupe_key or f"ext:{item.channel}:{item.external_id}"
            first = results[first_of_key[key]]
            results[idx] = IntakeResult(first.case_id, first.number, first.kind, first.reply_text, duplicate=True)
    return results  # type: ignore[return-value]


async def record_inbound(
    conn: AsyncConnection, items: list[InboundMessage], ctx: IntakeContext, *, now: datetime | None = None
) -> list[IntakeResult]:
    """``record_inbound_sync`` in the caller's async transaction (imports, the
    disclosure dialog)."""
    return await conn.run_sync(record_inbound_sync, items, ctx, now=now)


Attempt = Callable[[list[InboundMessage]], Awaitable[list[IntakeResult]]]
T = TypeVar("T")


async def _retrying(attempt: Attempt, items: list[InboundMessage]) -> list[IntakeResult]:
    """One transaction for the batch. If it fails, redo the items one by
    one: another worker may have stored one of these deliveries meanwhile
    (unique violation: the retry gets the stored answer), or one item may be
    bad (only that one fails, not everyone else's messages in the batch)."""
    try:
        return await attempt(items)
    except DBAPIError as exc:
        if len(items) == 1:
            if isinstance(exc, IntegrityError):
                return await attempt(items)
            raise
    out: list[IntakeResult | DBAPIError] = []
    for item in items:
        try:
            out.extend(await _retrying(attempt, [item]))
        except DBAPIError as exc:  # this item alone fails; the caller decides
            out.append(exc)
    return out


def _raise_failures(results: list) -> list[IntakeResult]:
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


async def record_with_retry(engine: AsyncEngine, items: list[InboundMessage], ctx: IntakeContext) -> list[IntakeResult]:
    async def attempt(batch: list[InboundMessage]) -> list[IntakeResult]:
        async with engine.begin() as conn:
            return await conn.run_sync(record_inbound_sync, batch, ctx)

    return _raise_failures(await _retrying(attempt, items))


def _keys_present(conn: Connection, column, keys: list) -> set:
    return set(conn.execute(select(column).where(column.in_(keys))).scalars())


class IntakeWriter:
    """Runs write transactions for the message paths.

    On SQLite the work runs on one thread over a plain sqlite3 connection:
    one thread hop per transaction. Through aiosqlite every statement is
    several hops, and under load each hop waits for the GIL, which cost
    more than the SQL itself. What concurrent requests submit while the
    writer is busy runs together in one transaction, each piece in its own
    savepoint (one piece failing undoes only its own work), so a burst pays
    one commit. PostgreSQL goes through asyncpg as usual, a transaction each.
    """

    def __init__(self, engine: AsyncEngine, max_group: int = 64):
        self._engine = engine
        self._sync_engine = create_sync_engine(engine.url) if engine.dialect.name == "sqlite" else None
        self._executor = ThreadPoolExecutor(1, "intake-writer") if self._sync_engine is not None else None
        self._max_group = max_group
        self._closed = False
        self._conn: Connection | None = None  # the writer thread's own, kept between groups
        self._queue: list[tuple[Callable, tuple, asyncio.Future]] = []
        self._draining = False

    async def transaction(self, fn: Callable[..., T], *args) -> T:
        """``fn(connection, *args)`` in a write transaction; returns once it is
        committed. On SQLite it runs on the writer thread, so the write lock
        is never held across turns of the event loop (where every other
        writer would wait on it)."""
        if self._sync_engine is None:
            async with self._engine.begin() as conn:
                return await conn.run_sync(fn, *args)
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self._queue.append((fn, args, fut))
        if not self._draining:
            self._draining = True
            loop.create_task(self._drain())
        return await fut

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._queue:
                # One turn of the loop first: the submitters woken by the last
                # group (the group committer with its next batch) join this
                # one, instead of the stragglers already queued taking a
                # commit of their own and the batch waiting for it.
                await asyncio.sleep(0)
                group = self._queue[: self._max_group]
                del self._queue[: self._max_group]
                try:
                    outcomes = await loop.run_in_executor(self._executor, self._run_group, group)
                except asyncio.CancelledError:
                    for _, _, fut in group:
                        fut.cancel()
                    raise
                except BaseException as exc:  # BEGIN or COMMIT failed: nothing of the group is stored
                    outcomes = [(False, exc)] * len(group)
                for (_, _, fut), (ok, value) in zip(group, outcomes):
                    _settle(fut, ok, value)
        finally:
            self._draining = False

    def _connection(self) -> Connection:
        """The writer thread's connection, kept open between groups: taking
        one from the pool and handing it back (with its reset) each time
        cost as much as a group's look-ups."""
        if self._conn is None or self._conn.closed or self._conn.invalidated:
            self._conn = self._sync_engine.connect()
        return self._conn

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # already broken: the pool discards it
                log.debug("closing the writer's connection failed", exc_info=True)

    def _run_group(self, group) -> list[tuple[bool, object]]:
        try:
            return self._run_group_on(self._connection(), group)
        except BaseException:
            # BEGIN, COMMIT or the connection itself failed: start afresh.
            self._drop_connection()
            raise

    def _run_group_on(self, conn: Connection, group) -> list[tuple[bool, object]]:
        outcomes: list[tuple[bool, object]] = []
        with conn.begin():
            if len(group) == 1:
                fn, args, _ = group[0]
                outcomes.append((True, fn(conn, *args)))  # an error fails the transaction: raised
                return outcomes
            # Each piece in a savepoint, set on the driver's connection: through
            # begin_nested() the two statements cost more than a small piece.
            driver = conn.connection.dbapi_connection
            for fn, args, _ in group:
                driver.execute("SAVEPOINT intake_piece")
                try:
                    value = fn(conn, *args)
                except Exception as exc:
                    driver.execute("ROLLBACK TO intake_piece")
                    driver.execute("RELEASE intake_piece")
                    outcomes.append((False, exc))
                else:
                    driver.execute("RELEASE intake_piece")
                    outcomes.append((True, value))
        return outcomes

    async def read(self, fn: Callable[..., T], *args) -> T:
        """``fn(connection, *args)`` in a read-only transaction, for the short
        look-ups on a message's path (by key, through an index). On SQLite it
        runs right here on the event loop's thread: a WAL reader never waits
        for the writer, and such a read takes tens of microseconds, less
        than a hop to another thread and back."""
        if self._sync_engine is None:
            async with self._engine.connect() as conn:
                conn = await conn.execution_options(readonly=True)
                async with conn.begin():
                    return await conn.run_sync(fn, *args)
        if not self._wal:
            # Not in WAL mode (a file system without shared memory, say): a
            # reader may wait for the writer's lock, so not on the loop.
            return await asyncio.get_running_loop().run_in_executor(self._executor, self._read_sync, fn, args)
        return self._read_sync(fn, args)

    async def keys_present(self, column, keys: list) -> set:
        """Which of ``keys`` occur in ``column`` (an indexed text column of a
        model): the cheap first question of a look-up whose answer is
        nearly always "none". On SQLite in WAL mode it is one plain SELECT
        on the event loop's thread (a twentieth of the cost through
        SQLAlchemy); elsewhere a read as usual."""
        if not keys:
            return set()
        if self._sync_engine is None or not self._wal or not isinstance(column.type, String):
            return await self.read(_keys_present, column, keys)
        quote = self._sync_engine.dialect.identifier_preparer.quote
        sql_of = f"SELECT {quote(column.name)} FROM {quote(column.table.name)} WHERE {quote(column.name)} IN "
        found: set = set()
        for i in range(0, len(keys), SQLITE_MAX_VARIABLES):
            chunk = keys[i : i + SQLITE_MAX_VARIABLES]
            sql = sql_of + f"({','.join('?' * len(chunk))})"
            try:
                found.update(row[0] for row in self._raw_reader.execute(sql, chunk))
            except sqlite3.Error as exc:  # as SQLAlchemy would raise it, values hidden
                raise DBAPIError.instance(sql, chunk, exc, sqlite3.Error, hide_parameters=True) from exc
        return found

    @cached_property
    def _raw_reader(self) -> sqlite3.Connection:
        """A plain read-only sqlite3 connection for the loop's thread (each
        statement its own read transaction: autocommit); it never creates
        the database file."""
        if self._closed:
            raise RuntimeError("the intake writer is closed")
        path = self._sync_engine.url.database
        conn = sqlite3.connect(f"file:{quote_path(path)}?mode=rw", uri=True, isolation_level=None,
                               check_same_thread=False)
        conn.execute("PRAGMA query_only=ON")
        conn.execute("PRAGMA busy_timeout=10000")
        return conn

    def _read_sync(self, fn, args):
        with self._sync_engine.connect() as conn:
            with conn.execution_options(readonly=True).begin():
                return fn(conn, *args)

    @cached_property
    def _wal(self) -> bool:
        raw = self._sync_engine.raw_connection()  # no transaction (ours begin IMMEDIATE)
        try:
            return str(raw.driver_connection.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal"
        finally:
            raw.close()

    async def record(self, items: list[InboundMessage], ctx: IntakeContext) -> list[IntakeResult | DBAPIError]:
        """Results in order; an item that could not be stored on its own comes
        back as its error, so one bad item fails only its own request."""
        return await _retrying(lambda batch: self.transaction(record_inbound_sync, batch, ctx), items)

    async def wait_idle(self) -> None:
        """Until every submitted transaction has run (before ``close``)."""
        while self._draining or self._queue:
            if not self._draining:  # a drain that ended early: start another
                self._draining = True
                asyncio.get_running_loop().create_task(self._drain())
            await asyncio.sleep(0.005)

    def close(self) -> None:
        self._closed = True
        if "_raw_reader" in self.__dict__:
            self.__dict__.pop("_raw_reader").close()
        if self._executor is not None:
            self._executor.submit(self._drop_connection)  # on its own thread, after what is queued
            self._executor.shutdown(wait=True)
            self._sync_engine.dispose()


def _settle(fut: asyncio.Future, ok: bool, value) -> None:
    if fut.done():
        return
    if ok:
        fut.set_result(value)
    elif isinstance(value, Exception) and not isinstance(value, StopIteration):
        fut.set_exception(value)
    else:  # a future can't carry StopIteration, and SystemExit & co. belong to the process
        fut.set_exception(RuntimeError(f"write failed: {type(value).__name__}"))


class GroupCommitter:
    """Collects concurrent submissions and records them in one transaction
    per batch. While a batch commits, the next one fills up, so batches grow
    with load and latency stays at about one commit."""

    def __init__(self, writer: IntakeWriter, ctx_provider: Callable[[], IntakeContext], max_batch: int = 256):
        self._writer = writer
        self._ctx = ctx_provider
        self._max_batch = max_batch
        self._pending: list[tuple[InboundMessage, asyncio.Future]] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._closing = False
        self.batches = 0
        self.items = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="group-commit")

    async def submit(self, item: InboundMessage) -> IntakeResult:
        if self._closing or self._task is None:
            raise RuntimeError("intake writer is not running")
        fut = asyncio.get_running_loop().create_future()
        self._pending.append((item, fut))
        self._wakeup.set()
        return await fut

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._pending:
                batch = self._pending[: self._max_batch]
                del self._pending[: self._max_batch]
                try:
                    results = await self._writer.record([b[0] for b in batch], self._ctx())
                except Exception as exc:  # the requests fail (WeChat retries); the writer lives on
                    log.exception("recording a batch of %d failed", len(batch))
                    for _, fut in batch:
                        if not fut.done():
                            fut.set_exception(exc)
                    continue
                self.batches += 1
                self.items += len(batch)
                metrics.COMMIT_BATCH.observe(len(batch))
                for (_, fut), res in zip(batch, results):
                    if fut.done():
                        continue
                    if isinstance(res, BaseException):
                        log.error("recording one message failed: %s", type(res).__name__)
                        fut.set_exception(res)
                    else:
                        fut.set_result(res)
            if self._closing:
                return

    async def close(self) -> None:
        """Finish what was submitted, then stop."""
        self._closing = True
        self._wakeup.set()
        if self._task:
            await self._task
