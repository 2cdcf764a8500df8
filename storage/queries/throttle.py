"""Per-address limits of the public pages (/track, /letters): a fixed
window per key, counted in one atomic upsert, so every worker and host
shares the count."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import case, delete
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from ..dialects import dialect_insert
from ..models import RequestCount


def count_request(session: Session | Connection, key: str, now: datetime, window: timedelta) -> int:
    """Count one request of ``key``; how many it has made in the current
    window, this one included (a window older than ``window`` starts over)."""
    stmt = dialect_insert(session, RequestCount).values(key=key, window_start=now, count=1)
    expired = RequestCount.window_start <= now - window
    stmt = stmt.on_conflict_do_update(
        index_elements=["key"],
        set_={"window_start": case((expired, now), else_=RequestCount.window_start),
              "count": case((expired, 1), else_=RequestCount.count + 1)},
    ).returning(RequestCount.count)
    return session.execute(stmt).scalar_one()


def forget_old(session: Session, before: datetime) -> int:
    """Drop the counts of windows that ended before ``before``."""
    return session.execute(delete(RequestCount).where(RequestCount.window_start < before)).rowcount or 0
