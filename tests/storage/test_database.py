"""The unit of work (storage/database.py): a use case's function runs in one
transaction; what it returns is committed, what raises changes nothing; the
ORM session and the Core connection are the same transaction."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, insert, select

from storage.database import Database
from storage.models import CalendarDay, CalendarYear


@pytest.fixture
async def db(db_url):
    database = Database(db_url)
    yield database
    await database.close()


def _enter_year(tx, year: int, fail: bool = False) -> int:
    tx.session.add(CalendarYear(year=year, entered_by="test"))  # through the ORM…
    tx.conn.execute(insert(CalendarDay).values(day=date(year, 1, 1), is_workday=False))  # …and Core, one transaction
    if fail:
        raise ValueError("refused after writing")
    return year


def _count(tx) -> tuple[int, int]:
    s = tx.session
    return (s.execute(select(func.count()).select_from(CalendarYear)).scalar_one(),
            s.execute(select(func.count()).select_from(CalendarDay)).scalar_one())


async def test_what_returns_is_committed_and_what_raises_leaves_nothing(db):
    assert await db.write(_enter_year, 2031) == 2031
    assert await db.read(_count) == (1, 1)
    with pytest.raises(ValueError):
        await db.write(_enter_year, 2032, True)
    assert await db.read(_count) == (1, 1)  # neither the ORM's row nor Core's of the failed call


async def test_objects_come_out_usable_after_the_transaction(db):
    await db.write(_enter_year, 2033)
    year = await db.read(lambda tx: tx.session.execute(select(CalendarYear)).scalar_one())
    assert (year.year, year.entered_by) == (2033, "test")


async def test_a_read_keeps_nothing(db):
    # A read's transaction is never committed: whatever it ran is gone.
    await db.read(_enter_year, 2034)
    assert await db.read(_count) == (0, 0)
