"""The public pages' per-address counts (storage/queries/throttle.py): one
atomic upsert per request, a window that starts over once it has passed,
and concurrent requests all counted, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from storage.database import Database
from storage.queries import throttle

MINUTE = timedelta(minutes=1)


@pytest.fixture
async def db(db_url):
    database = Database(db_url)
    yield database
    await database.close()


async def test_counts_per_key_and_starts_over_after_the_window(db):
    t0 = datetime(2026, 12, 3, 8, 0, tzinfo=timezone.utc)
    counts = [await db.write(lambda tx: throttle.count_request(tx.session, "track:10.0.0.1", t0 + timedelta(seconds=i),
                                                               MINUTE)) for i in range(3)]
    assert counts == [1, 2, 3]
    assert await db.write(lambda tx: throttle.count_request(tx.session, "track:10.0.0.2", t0, MINUTE)) == 1
    later = t0 + MINUTE + timedelta(seconds=1)
    assert await db.write(lambda tx: throttle.count_request(tx.session, "track:10.0.0.1", later, MINUTE)) == 1
    assert await db.write(lambda tx: throttle.count_request(tx.session, "track:10.0.0.1", later, MINUTE)) == 2
    assert await db.write(lambda tx: throttle.forget_old(tx.session, later)) == 1  # 10.0.0.2's window is over


async def test_concurrent_requests_are_all_counted(db):
    now = datetime.now(timezone.utc)
    counts = await asyncio.gather(*(db.write(lambda tx: throttle.count_request(tx.session, "letters:x", now, MINUTE))
                                    for _ in range(25)))
    assert sorted(counts) == list(range(1, 26))
