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


async def test_the_migrations_make_the_schema_the_models_describe(db_url):
    # db_url is migrated to head by the fixture, on SQLite and PostgreSQL.
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from storage.models import Base

    engine = create_engine(db_url)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(lambda c: compare_metadata(MigrationContext.configure(c), Base.metadata))
    finally:
        await engine.dispose()
    # Only differences a model cannot express are allowed: the full-text
    # search objects the migrations make (SQLite's FTS5 tables, PostgreSQL's
    # expression index on the search tokens).
    assert [d for d in diff if not _is_search_object(d)] == []


def _is_search_object(change) -> bool:
    name = getattr(change[1], "name", "") if isinstance(change, tuple) and len(change) > 1 else ""
    return ((change[0] == "remove_table" and ("fts" in name or name.startswith("cases_search")))
            or (change[0] == "remove_index" and name == "ix_cases_search_tokens"))


async def test_answers_given_before_the_lifecycle_get_their_day_and_working_days(tmp_path):
    # Migration 0006 on a database with an answered case and a holiday the
    # office entered for a year the calendar package does not know.
    from bot.app import migrate
    from storage.database import Database

    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    try:
        await upgrade(engine, "0005", document_tokens=document_tokens)
        received = datetime(2030, 3, 4, 1, 0)  # Monday 4 March 2030, 09:00 in Beijing (stored as UTC)
        answered = datetime(2030, 3, 8, 17, 0)  # Saturday 9 March, 01:00 in Beijing
        async with engine.begin() as conn:
            await conn.execute(text(
                "INSERT INTO cases (number, channel, kind, topic, confidence, matched, needs_review, classified_by,"
                " status, text, received_at, received_date, received_year, last_message_at, version, created_at,"
                " updated_at, answered_at) VALUES ('XH20300304-0001', 'letter', 'consultation', 'general', 0.9, '[]',"
                " 0, 'rules', 'answered', '咨询', :r, :d, 2030, :r, 1, :r, :r, :a)"),
                {"r": received, "d": date(2030, 3, 4), "a": answered})
            await conn.execute(text("INSERT INTO calendar_years (year, entered_by, entered_at) VALUES (2030, 'a', :r)"),
                               {"r": received})
            await conn.execute(text("INSERT INTO calendar_days (day, is_workday) VALUES (:d, 0)"),
                               {"d": date(2030, 3, 6)})
    finally:
        await engine.dispose()
    db = Database(url)
    try:
        await migrate(db, "Asia/Shanghai")
        async with db.engine.connect() as conn:
            row = (await conn.execute(text("SELECT answered_date, answer_working_days FROM cases"))).one()
    finally:
        await db.close()
    # Tuesday, Thursday and Friday: Wednesday was the office's holiday, Saturday none.
    assert (str(row[0]), row[1]) == ("2030-03-09", 3)



async def test_hosts_starting_together_on_postgresql_migrate_once(tmp_path):
    """Three hosts running `intake db upgrade` (as `intake serve` does at
    start) on one empty PostgreSQL database at the same moment, as after a
    deployment: all succeed and the schema is made once."""
    import asyncio
    import os
    import sys
    from pathlib import Path

    from tests.conftest import empty_pg_database

    intake = str(Path(sys.executable).with_name("intake"))
    async with empty_pg_database() as url:
        async def host(n: int) -> tuple[int, str]:
            env = {**os.environ, "INTAKE_DATABASE_URL": url, "INTAKE_SECRET_KEY": "shared-by-the-hosts",
                   "INTAKE_VAR_DIR": str(tmp_path / f"var{n}")}
            proc = await asyncio.create_subprocess_exec(intake, "db", "upgrade", env=env, stdout=asyncio.subprocess.PIPE,
                                                        stderr=asyncio.subprocess.STDOUT)
            out, _ = await asyncio.wait_for(proc.communicate(), 120)
            return proc.returncode, out.decode(errors="replace")[-2000:]

        outcomes = await asyncio.gather(*(host(n) for n in range(3)))
        assert [code for code, _ in outcomes] == [0, 0, 0], outcomes
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                versions = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars().all()
        finally:
            await engine.dispose()
        assert len(versions) == 1
