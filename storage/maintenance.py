"""Keeping the database fast: SQLite's planner statistics."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)


async def refresh_planner_statistics(engine: AsyncEngine, *, force: bool = False) -> bool:
    """SQLite plans from sqlite_stat1, which nothing else maintains: without
    it (or with stale figures) it takes status or channel for selective and
    sorts half the table for one page. ANALYZE when the cases table has no
    statistics or has more than doubled (or halved) since: a few seconds of
    write lock at a million cases, so rarely. (A sampled ANALYZE reads only
    the first rows of each index and misjudges exactly these columns.)
    PostgreSQL's autovacuum does this by itself. True when it analysed."""
    if engine.dialect.name != "sqlite":
        return False
    async with engine.connect() as conn:
        conn = await conn.execution_options(readonly=True)
        async with conn.begin():
            rows = (await conn.exec_driver_sql("SELECT count(*) FROM cases")).scalar_one()
            try:
                stat = (await conn.exec_driver_sql(
                    "SELECT stat FROM sqlite_stat1 WHERE tbl = 'cases' AND idx IS NOT NULL LIMIT 1")).scalar()
            except Exception:  # no sqlite_stat1 yet: never analysed
                stat = None
    analysed = int(stat.split()[0]) if stat else None
    if not force and analysed is not None and analysed / 2 <= rows <= analysed * 2 + 1000:
        return False
    async with engine.begin() as conn:
        await conn.exec_driver_sql("PRAGMA analysis_limit=0")
        await conn.exec_driver_sql("ANALYZE")
    log.info("query planner statistics refreshed (%d cases)", rows)
    return True
