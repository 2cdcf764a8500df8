"""Migration 0003 on a database that already holds cases: they become
searchable (tokens back-filled, FTS index built) and the open-cases index
serves the inbox."""

from __future__ import annotations

from datetime import date, datetime, timezone

from sqlalchemy import text

from nlp.search_tokens import document_tokens
from storage.db import create_engine
from storage.maintenance import refresh_planner_statistics
from storage.migrate import upgrade


async def test_existing_cases_become_searchable(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    try:
        await upgrade(engine, "0002")
        now = datetime(2020, 3, 15, 1, 21, tzinfo=timezone.utc).replace(tzinfo=None)
        async with engine.begin() as conn:
            for i, body in enumerate(("请问人防车位可以出售吗", "防空警报几点试鸣")):
                await conn.execute(text(
                    "INSERT INTO cases (number, channel, kind, topic, confidence, matched, needs_review, classified_by,"
                    " status, text, received_at, received_date, received_year, last_message_at, version, created_at,"
                    " updated_at) VALUES (:n, 'portal', 'consultation', 'general', 0.9, '[]', 0, 'rules', 'new', :t,"
                    " :at, :d, 2020, :at, 1, :at, :at)"), {"n": f"WZ20200315-000{i + 1}", "t": body, "at": now,
                                                         "d": date(2020, 3, 15)})
        await upgrade(engine, document_tokens=document_tokens)

        # What the running app does at start and every 6 hours: analyse when
        # there are no statistics, not again while the table keeps its size.
        assert await refresh_planner_statistics(engine) is True
        assert await refresh_planner_statistics(engine) is False
        async with engine.connect() as conn:
            found = (await conn.execute(text(
                "SELECT number FROM cases WHERE id IN (SELECT rowid FROM cases_fts WHERE cases_fts MATCH '\"车位\"')"
            ))).scalars().all()
            assert found == ["WZ20200315-0001"]
            plan = " ".join(r[3] for r in await conn.execute(text(
                "EXPLAIN QUERY PLAN SELECT count(*) FROM cases WHERE cases.status IN "
                "('assigned', 'in_progress', 'new', 'waiting') AND cases.merged_into_id IS NULL")))
            assert "ix_cases_open" in plan
    finally:
        await engine.dispose()
