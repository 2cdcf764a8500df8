"""What operations ask of the process."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

from storage.database import is_outage as _is_outage
from storage.queries import kv, throttle

from .runtime import Runtime

# The public pages' per-address counts use windows of minutes: a day-old one is of no use.
COUNTS_KEPT = timedelta(days=1)


HEALTH_PROBE_KEY = "healthz.probe"


def is_outage(exc: BaseException) -> bool:
    """Whether an error says the database is away (answered 503, "try
    again"), not that one request's data was refused."""
    return _is_outage(exc)


async def database_problem(rt: Runtime) -> str | None:
    """None when the database answers reads and takes writes, else the kind
    of error (never its text: it could hold a URL). A write is tried only
    while the last write failed (a full disk, a read-only database, a
    primary gone): reads would still succeed, and writes are what is lost.
    A healthy process writes nothing for a probe."""
    try:
        await rt.db.read(lambda tx: tx.conn.exec_driver_sql("SELECT 1").scalar())
    except Exception as exc:  # report, don't crash: this is what the probe is for
        return type(exc).__name__
    if rt.db.writer.failing is None:
        return None
    try:
        stamp = f"{time.time():.3f}"
        await rt.db.write(lambda tx: kv.set_value(tx.session, HEALTH_PROBE_KEY, stamp))
    except Exception as exc:
        return f"writes failing ({type(getattr(exc, 'orig', None) or exc).__name__})"
    return None


async def forget_old_request_counts(rt: Runtime) -> int:
    """Drop the public pages' per-address counts whose window is long over."""
    before = datetime.now(timezone.utc) - COUNTS_KEPT
    return await rt.db.write(lambda tx: throttle.forget_old(tx.session, before))
