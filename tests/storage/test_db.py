"""storage/db.py: the PostgreSQL pool pings a connection that sat idle
before handing it out (a server restart meanwhile costs no request), and
not one used a moment ago (the ping is three round trips on asyncpg)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from storage import db as storage_db


@pytest.mark.asyncio
async def test_an_idle_connection_killed_by_the_server_is_replaced_not_failed(db_url, monkeypatch):
    if not db_url.startswith("postgresql"):
        pytest.skip("the PostgreSQL pool")
    engine = storage_db.create_engine(db_url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        # Used a moment ago: handed out again as it is, and it works.
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one() == pid
        # The server ends that connection while it sits in the pool (a restart, an idle timeout).
        admin = storage_db.create_engine(db_url, pool_size=1, max_overflow=0)
        async with admin.connect() as conn:
            assert (await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})).scalar_one()
        await admin.dispose()
        monkeypatch.setattr(storage_db, "PING_AFTER_IDLE_SECONDS", 0.0)  # it has now been idle "long enough"
        async with engine.connect() as conn:  # pinged, found dead, replaced: no error for the caller
            assert (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one() != pid
    finally:
        await engine.dispose()


@pytest.mark.asyncio
async def test_a_key_probe_is_planned_for_its_keys_not_once_for_an_empty_table(db_url):
    # A generic plan made while the tables were empty is a sequential scan,
    # kept by the connection as the table grows: the message path's probes
    # then read the whole table per batch. Every run gets a plan of its own.
    if not db_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's plan cache")
    from storage.queries import intake as q

    engine = storage_db.create_engine(db_url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            for i in range(8):  # after five runs PostgreSQL would keep a generic plan
                assert await conn.run_sync(q.existing_deliveries, [f"key-{i}", f"other-{i}"]) == {}
            plans = (await conn.execute(text(
                "SELECT generic_plans, custom_plans FROM pg_prepared_statements"
                " WHERE statement LIKE '%messages.dedupe_key = ANY%'"))).all()
        generic, custom = max(plans, key=sum)  # the statement the probes ran
        assert (generic, custom) == (0, 8), plans
    finally:
        await engine.dispose()
