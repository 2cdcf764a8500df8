"""The statements of the message paths: recording a batch of inbound
messages (bot/services/intake.py), and the messages that open no case
(events, keyword-rule replies, dialog steps).

They run on every message, so each is built once with bind parameters
(building a statement costs SQLAlchemy several times what executing it
costs) and run through the fast path of storage/sqlite_fast.py on SQLite;
on PostgreSQL the batch's rows go in one statement per table
(storage/postgres_fast.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import ARRAY, any_, bindparam, literal_column, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from ..dialects import insert_for
from ..models import AuditEntry, Case, CaseCounter, Contact, KbAnswer, Message, OutboxItem
from ..postgres_fast import UnnestInsert
from ..sqlite_fast import BulkInsert, Prepared

def _among(column, name: str, dialect: str):
    """``column`` in the list given as ``name``: an expanded IN on SQLite; on
    PostgreSQL ``= ANY(array)``, one statement text (so one prepared
    statement and, after a few runs, one plan) for lists of any length."""
    if dialect == "postgresql":
        return column == any_(bindparam(name, type_=ARRAY(column.type)))
    return column.in_(bindparam(name, expanding=True))


def _deliveries(dialect: str) -> Prepared:
    return Prepared(select(Message.dedupe_key, Message.case_id, Message.reply_text, Case.number, Case.kind)
                    .outerjoin(Case, Case.id == Message.case_id)
                    .where(_among(Message.dedupe_key, "keys", dialect)))


def _external(dialect: str) -> Prepared:
    return Prepared(select(Case.external_id, Case.id, Case.number, Case.kind).where(
        Case.channel == bindparam("channel"), _among(Case.external_id, "ids", dialect)))


def _contact_ids(dialect: str) -> Prepared:
    return Prepared(select(Contact.identity, Contact.id).where(
        Contact.channel == bindparam("channel"), _among(Contact.identity, "identities", dialect)))


def _open_cases(status, dialect: str) -> Prepared:
    return Prepared(
        select(Case.contact_id, Case.id, Case.number, Case.kind, Case.status, Case.last_message_at,
               Case.answered_at, Case.received_at, Case.deadline_days, Case.paused_days)
        .where(_among(Case.contact_id, "ids", dialect), _among(status, "statuses", dialect),
               Case.merged_into_id.is_(None))
        .order_by(Case.last_message_at)
    )


_DIALECTS = ("sqlite", "postgresql")
_DELIVERIES = {name: _deliveries(name) for name in _DIALECTS}
_EXTERNAL = {name: _external(name) for name in _DIALECTS}
_CONTACT_IDS = {name: _contact_ids(name) for name in _DIALECTS}
_OPEN_CASES = {
    # Without statistics SQLite walks the status index, and nearly every case
    # is open: it would read them all on every batch. A unary + keeps it on
    # the contact index.
    "sqlite": _open_cases(literal_column("+cases.status"), "sqlite"),
    "postgresql": _open_cases(Case.status, "postgresql"),
}


def _by_dialect(dialect: str) -> dict[str, Prepared]:
    new_contacts = insert_for(dialect, Contact).on_conflict_do_nothing(index_elements=["channel", "identity"])
    counter = insert_for(dialect, CaseCounter).values(day=bindparam("day"), value=bindparam("count"))
    counter = counter.on_conflict_do_update(
        index_elements=["day"], set_={"value": CaseCounter.value + counter.excluded.value}
    ).returning(CaseCounter.value)
    # The one "insert a message unless its delivery is stored" statement.
    messages = insert_for(dialect, Message).on_conflict_do_nothing(index_elements=["dedupe_key"])
    return {"new_contacts": Prepared(new_contacts), "counter": Prepared(counter), "messages": Prepared(messages)}


_DIALECT = {name: _by_dialect(name) for name in ("sqlite", "postgresql")}
_NEW_CONTACTS_RETURNING = (insert_for("postgresql", Contact).on_conflict_do_nothing(index_elements=["channel", "identity"])
                           .returning(Contact.identity, Contact.id))


class _Rows:
    """Many rows into a table on the fast path of the connection's database."""

    def __init__(self, table, returning: tuple[str, ...] = ()):
        self._sqlite = BulkInsert(table, returning)
        self._postgresql = UnnestInsert(table, returning)

    def __call__(self, conn: Connection, rows: list[dict]) -> list[tuple]:
        return (self._postgresql if conn.dialect.name == "postgresql" else self._sqlite)(conn, rows)


_NEW_CASES = _Rows(Case.__table__, returning=("id", "number"))
_NEW_MESSAGES = _Rows(Message.__table__)
_NEW_AUDIT = _Rows(AuditEntry.__table__)
_NEW_ANSWERS = _Rows(KbAnswer.__table__)
_NEW_OUTBOX = _Rows(OutboxItem.__table__)
_WAITING = Prepared(select(Case.id, Case.waiting_since, Case.deadline_at, Case.paused_days, Case.deadline_error)
                    .where(Case.id.in_(bindparam("ids", expanding=True))))


def existing_deliveries(conn: Connection, keys: Sequence[str]) -> dict[str, tuple]:
    """dedupe_key → (case_id, reply_text, case number, kind) for deliveries already stored."""
    if not keys:
        return {}
    return {r[0]: r[1:] for r in _DELIVERIES[conn.dialect.name](conn, {"keys": list(keys)})}


def existing_external(conn: Connection, channel: str, ids: Sequence[str]) -> dict[str, tuple]:
    """external_id → (case id, number, kind) on a channel."""
    if not ids:
        return {}
    return {r[0]: r[1:] for r in _EXTERNAL[conn.dialect.name](conn, {"channel": channel, "ids": list(ids)})}


def ensure_contacts(conn: Connection, channel: str, people: dict[str, dict[str, Any]],
                    created: set[int] | None = None) -> dict[str, int]:
    """identity → contact id, inserting the ones not seen yet (race-safe).
    ``people`` maps an identity to name, phone, applicant_type and ``at``.
    ``created`` collects the ids inserted by this call (in this transaction:
    no one else's cases can refer to them yet)."""
    if not people:
        return {}
    found = dict(_CONTACT_IDS[conn.dialect.name](conn, {"channel": channel, "identities": list(people)}))
    missing = sorted(i for i in people if i not in found)  # one order: no deadlock between workers
    if missing:
        rows = [{"channel": channel, "identity": i, "name": people[i].get("name"), "phone": people[i].get("phone"),
                 "applicant_type": people[i].get("applicant_type"), "created_at": people[i]["at"]} for i in missing]
        if conn.dialect.name == "postgresql":
            # One statement: the rows inserted come back; one that another
            # transaction inserted meanwhile is skipped and looked up below.
            inserted = {identity: cid for identity, cid in conn.execute(_NEW_CONTACTS_RETURNING, rows)}
            found.update(inserted)
            if created is not None:
                created.update(inserted.values())
            missing = [i for i in missing if i not in inserted]
            if missing:
                found.update(_CONTACT_IDS[conn.dialect.name](conn, {"channel": channel, "identities": missing}))
            return found
        # SQLite: the writer holds the database's write lock (BEGIN
        # IMMEDIATE), so every row missing above is inserted by this call.
        _DIALECT[conn.dialect.name]["new_contacts"](conn, rows)
        new = dict(_CONTACT_IDS[conn.dialect.name](conn, {"channel": channel, "identities": missing}))
        found.update(new)
        if created is not None:
            created.update(new.values())
    return found


def latest_cases_of(conn: Connection, contact_ids: Iterable[int], statuses: Sequence[str]) -> dict[int, tuple]:
    """contact id → (case id, number, kind, status, last_message_at, answered_at,
    received_at, deadline_days, paused_days) of their latest case in ``statuses``."""
    ids = list(set(contact_ids))
    if not ids:
        return {}
    latest: dict[int, tuple] = {}
    for r in _OPEN_CASES[conn.dialect.name](conn, {"ids": ids, "statuses": sorted(statuses)}):
        latest[r[0]] = r[1:]  # ordered ascending: the last one wins
    return latest


def allocate_sequences(conn: Connection, day: date, count: int) -> range:
    """Reserve ``count`` consecutive numbers of ``day``'s sequence."""
    ((end,),) = _DIALECT[conn.dialect.name]["counter"](conn, {"day": day, "count": count})
    return range(end - count + 1, end + 1)


def insert_cases(conn: Connection, rows: list[dict]) -> dict[str, int]:
    """New cases (rows of column values, every row the same columns) → case
    number → id (matched by number: RETURNING promises no row order)."""
    return {number: case_id for case_id, number in _NEW_CASES(conn, rows)}


def insert_messages(conn: Connection, rows: list[dict]) -> None:
    _NEW_MESSAGES(conn, rows)


def insert_audit(conn: Connection, rows: list[dict]) -> None:
    _NEW_AUDIT(conn, rows)


def insert_kb_answers(conn: Connection, rows: list[dict]) -> None:
    _NEW_ANSWERS(conn, rows)


def insert_outbox(conn: Connection, rows: list[dict]) -> None:
    """Deliveries queued with the messages that cause them (a 12345 签收)."""
    _NEW_OUTBOX(conn, rows)


def insert_messages_once(conn: Connection, rows: list[dict]) -> None:
    """Messages that open no case (events, rule replies, dialog steps); a row
    whose ``dedupe_key`` is stored already is skipped (a retry)."""
    _DIALECT[conn.dialect.name]["messages"](conn, rows)


def load_cases(session: Session, ids: list[int]) -> list[Case]:
    """The cases into the session's identity map, in one statement."""
    return list(session.scalars(select(Case).where(Case.id.in_(ids)))) if ids else []


def update_case(conn: Connection, case_id: int, values: dict) -> None:
    conn.execute(update(Case).where(Case.id == case_id).values(**values))


def waiting_cases(conn: Connection, ids: list[int]) -> list[tuple]:
    """(id, waiting_since, deadline_at, paused_days, deadline_error) of cases paused for the citizen."""
    return _WAITING(conn, {"ids": ids}) if ids else []


def resume_case(conn: Connection, case_id: int, waiting: str, values: dict) -> bool:
    """The case leaves the ``waiting`` status with ``values``, if it still has it."""
    result = conn.execute(update(Case).where(Case.id == case_id, Case.status == waiting)
                          .values(version=Case.version + 1, **values))
    return bool(result.rowcount)


def set_subscription(conn: Connection, contact_id: int, *, at: datetime, subscribed: bool) -> None:
    values = {"subscribed_at": at, "unsubscribed_at": None} if subscribed else {"unsubscribed_at": at}
    conn.execute(update(Contact).where(Contact.id == contact_id).values(**values))


def set_reply(conn: Connection, dedupe_key: str, reply: str) -> None:
    """The passive reply given to a stored delivery."""
    conn.execute(update(Message).where(Message.dedupe_key == dedupe_key).values(reply_text=reply))


def attach_messages(conn: Connection, dedupe_keys: list[str], case_id: int) -> None:
    """Messages recorded before their case existed (a dialog's steps) join it."""
    if dedupe_keys:
        conn.execute(update(Message).where(Message.dedupe_key.in_(dedupe_keys), Message.case_id.is_(None))
                     .values(case_id=case_id))
