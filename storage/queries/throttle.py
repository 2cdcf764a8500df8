"""Per-address limits of the public pages (/track, /letters): a fixed
window per key, counted in one atomic upsert, so every worker and host
shares the count."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import bindparam, case, delete
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from ..dialects import insert_for
from ..models import RequestCount
from ..sqlite_fast import Prepared


def _upsert(dialect: str) -> Prepared:
    # Built once per dialect with bound parameters: every public request
    # counts, so the statement is compiled once, not per request.
    at = RequestCount.window_start.type
    now, since = bindparam("now", type_=at), bindparam("since", type_=at)
    expired = RequestCount.window_start <= since
    stmt = insert_for(dialect, RequestCount).values(key=bindparam("key"), window_start=now, count=1)
    return Prepared(stmt.on_conflict_do_update(
        index_elements=["key"],
        set_={"window_start": case((expired, now), else_=RequestCount.window_start),
              "count": case((expired, 1), else_=RequestCount.count + 1)},
    ).returning(RequestCount.count))


_COUNT = {name: _upsert(name) for name in ("sqlite", "postgresql")}


def count_request(session: Session | Connection, key: str, now: datetime, window: timedelta) -> int:
    """Count one request of ``key``; how many it has made in the current
    window, this one included (a window older than ``window`` starts over)."""
    conn = session.connection() if isinstance(session, Session) else session
    ((count,),) = _COUNT[conn.dialect.name](conn, {"key": key, "now": now, "since": now - window})
    return count


def forget_old(session: Session, before: datetime) -> int:
    """Drop the counts of windows that ended before ``before``."""
    return session.execute(delete(RequestCount).where(RequestCount.window_start < before)).rowcount or 0
