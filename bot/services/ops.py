"""What operations ask of the process."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from storage.queries import throttle

from .runtime import Runtime

# The public pages' per-address counts use windows of minutes: a day-old one is of no use.
COUNTS_KEPT = timedelta(days=1)


async def database_problem(rt: Runtime) -> str | None:
    """None when the database answers, else the kind of error (never its text:
    it could hold a URL)."""
    try:
        await rt.db.read(lambda tx: tx.conn.exec_driver_sql("SELECT 1").scalar())
    except Exception as exc:  # report, don't crash: this is what the probe is for
        return type(exc).__name__
    return None


async def forget_old_request_counts(rt: Runtime) -> int:
    """Drop the public pages' per-address counts whose window is long over."""
    before = datetime.now(timezone.utc) - COUNTS_KEPT
    return await rt.db.write(lambda tx: throttle.forget_old(tx.session, before))
