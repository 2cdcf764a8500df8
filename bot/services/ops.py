"""What operations ask of the process."""

from __future__ import annotations

from .runtime import Runtime


async def database_problem(rt: Runtime) -> str | None:
    """None when the database answers, else the kind of error (never its text:
    it could hold a URL)."""
    try:
        await rt.db.read(lambda tx: tx.conn.exec_driver_sql("SELECT 1").scalar())
    except Exception as exc:  # report, don't crash: this is what the probe is for
        return type(exc).__name__
    return None
