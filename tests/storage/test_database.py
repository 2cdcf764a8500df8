"""The unit of work (storage/database.py): a use case's function runs in one
transaction; what it returns is committed, what raises changes nothing; the
ORM session and the Core connection are the same transaction."""

from __future__ import annotations

import asyncio
from datetime import date

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

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


def _enter_year_twice(tx, year: int) -> None:
    tx.session.add(CalendarYear(year=year, entered_by="first"))
    tx.session.flush()
    tx.session.add(CalendarYear(year=year, entered_by="again"))  # the same key: the flush fails
    tx.session.flush()


async def test_a_failing_write_fails_alone_when_written_together_with_others(db):
    # Writes that arrive together share one transaction on SQLite (a group
    # commit); the one whose flush fails must not take the others with it.
    outcomes = await asyncio.gather(db.write(_enter_year, 2041), db.write(_enter_year_twice, 2042),
                                    db.write(_enter_year, 2043), return_exceptions=True)
    assert outcomes[0] == 2041 and outcomes[2] == 2043
    assert isinstance(outcomes[1], IntegrityError)  # its own error, not a broken savepoint
    years = await db.read(lambda tx: tx.session.execute(select(CalendarYear.year)).scalars().all())
    assert sorted(years) == [2041, 2043]


async def test_a_database_that_cannot_write_is_an_outage_and_a_bad_row_is_not(db):
    # What the server answers 503 "try again" for, against the item's own
    # failure: read-only (a standby, a full disk) against a duplicate key.
    from storage.database import is_outage

    async def failure(fn):
        try:
            await db.write(fn)
        except Exception as exc:
            return exc
        raise AssertionError("the write succeeded")

    def duplicate(tx):
        tx.conn.execute(insert(CalendarYear).values(year=2031, entered_by="test"))
        tx.conn.execute(insert(CalendarYear).values(year=2031, entered_by="test"))

    def read_only(tx):
        if tx.conn.dialect.name == "postgresql":
            tx.conn.exec_driver_sql("SET TRANSACTION READ ONLY")
        else:
            tx.conn.exec_driver_sql("PRAGMA query_only = 1")
        try:
            tx.conn.execute(insert(CalendarYear).values(year=2032, entered_by="test"))
        finally:
            if tx.conn.dialect.name == "sqlite":
                tx.conn.exec_driver_sql("PRAGMA query_only = 0")

    assert isinstance(await failure(duplicate), IntegrityError) and not is_outage(await failure(duplicate))
    assert is_outage(await failure(read_only))
