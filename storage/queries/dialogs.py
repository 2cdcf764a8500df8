"""Where each WeChat user stands in the disclosure dialog (one row per
OpenID, shared by all workers). A dialog step is a dozen statements on the
message path: each is built once and run through storage/sqlite_fast.py."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import Connection

from ..database import Tx
from ..dialects import insert_for
from ..models import DisclosureDialog
from ..sqlite_fast import Prepared

D = DisclosureDialog
_ACTIVE = Prepared(select(D.openid, D.step, D.updated_at).where(D.openid.in_(bindparam("openids", expanding=True))))
_SAVE = Prepared(update(D).where(D.openid == bindparam("key_openid")))


def _by_dialect(dialect: str) -> dict[str, Prepared]:
    columns = (D.step, D.data, D.last_key, D.last_reply, D.updated_at)
    if dialect == "postgresql":
        # One statement: made if missing, and locked for the transaction
        # either way (a no-op update locks the row as FOR UPDATE does).
        new = insert_for(dialect, D)
        return {"lock": Prepared(new.on_conflict_do_update(index_elements=["openid"], set_={"openid": new.excluded.openid})
                                 .returning(*columns))}
    # SQLite: BEGIN IMMEDIATE already serialises.
    return {"new": Prepared(insert_for(dialect, D).on_conflict_do_nothing(index_elements=["openid"])),
            "of": Prepared(select(*columns).where(D.openid == bindparam("openid")))}


def _start_statement(dialect: str) -> Prepared:
    new = insert_for(dialect, D)
    return Prepared(new.on_conflict_do_update(index_elements=["openid"], set_={
        name: new.excluded[name] for name in ("step", "data", "last_key", "last_reply", "updated_at")}))


_DIALECT = {name: _by_dialect(name) for name in ("sqlite", "postgresql")}
_START = {name: _start_statement(name) for name in ("sqlite", "postgresql")}


def steps_of(conn: Connection, openids: list[str]) -> list[tuple[str, str, datetime]]:
    """(openid, step, updated_at) of the users asked about that have a dialog row."""
    return _ACTIVE(conn, {"openids": openids}) if openids else []


def lock(conn: Connection, openid: str, now: datetime) -> tuple:
    """(step, data, last key, last reply, updated_at) of the user's dialog,
    made if missing, locked for this transaction."""
    statements = _DIALECT[conn.dialect.name]
    fresh = {"openid": openid, "step": "new", "data": {}, "updated_at": now}
    if "lock" in statements:
        (row,) = statements["lock"](conn, fresh)
        return row
    statements["new"](conn, fresh)
    (row,) = statements["of"](conn, {"openid": openid})
    return row


def save(conn: Connection, openid: str, *, step: str, data: dict, last_key: str, last_reply: str,
         at: datetime) -> None:
    _SAVE(conn, {"key_openid": openid, "step": step, "data": data, "last_key": last_key, "last_reply": last_reply,
                 "updated_at": at})


def start(tx: Tx, openid: str, *, step: str, data: dict, last_key: str, last_reply: str, at: datetime) -> None:
    """The user's dialog from the beginning (a new request): the row made,
    or an earlier dialog's overwritten, when the transaction's piece of work
    ends, in one statement with the other dialogs started in it."""
    tx.together(_START[tx.dialect], {"openid": openid, "step": step, "data": data, "last_key": last_key,
                                     "last_reply": last_reply, "updated_at": at})
