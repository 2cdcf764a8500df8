"""The writer (storage/writer.py): concurrent writes share a commit on
SQLite, one failing piece undoes only its own work, and nothing is answered
before its commit; and the fast statements of storage/sqlite_fast.py give
what SQLAlchemy gives."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager

import pytest
import pytest_asyncio
from sqlalchemy import event, insert, select
from sqlalchemy.exc import IntegrityError

from storage.db import create_engine
from storage.models import CaseCounter
from storage.writer import Writer


def _add_day(conn, day: str, value: int) -> int:
    from datetime import date

    conn.execute(insert(CaseCounter).values(day=date.fromisoformat(day), value=value))
    return value


def _boom(conn, day: str) -> None:
    _add_day(conn, day, 1)  # written, then undone with the piece
    raise ValueError("this piece fails")


@asynccontextmanager
async def open_writer(url: str):
    engine = create_engine(url)
    writer = Writer(engine)
    try:
        yield engine, writer
    finally:
        writer.close()
        await engine.dispose()


@pytest_asyncio.fixture
async def sqlite_url(tmp_path) -> str:
    """A migrated SQLite file: grouping is what SQLite's single writer does."""
    from tests.conftest import _migrate

    url = f"sqlite+aiosqlite:///{tmp_path / 'w.db'}"
    await _migrate(url)
    return url


async def _days(engine) -> dict[str, int]:
    async with engine.connect() as conn:
        rows = (await conn.execute(select(CaseCounter.day, CaseCounter.value))).all()
    return {d.isoformat(): v for d, v in rows}


@pytest.mark.asyncio
async def test_concurrent_writes_commit_together_and_fail_alone(db_url):
    async with open_writer(db_url) as (engine, writer):
        results = await asyncio.gather(
            writer.transaction(_add_day, "2026-01-01", 1),
            writer.transaction(_boom, "2026-01-02"),
            writer.transaction(_add_day, "2026-01-01", 2),  # duplicate key: fails on its own
            writer.transaction(_add_day, "2026-01-03", 3),
            return_exceptions=True,
        )
        assert results[3] == 3
        assert isinstance(results[1], ValueError)
        # the same day twice: one wins (on PostgreSQL either may come first)
        winner = [r for r in (results[0], results[2]) if not isinstance(r, BaseException)]
        assert len(winner) == 1
        assert sum(isinstance(r, IntegrityError) for r in (results[0], results[2])) == 1
        # what was answered is stored; the failed pieces left nothing behind
        assert await _days(engine) == {"2026-01-01": winner[0], "2026-01-03": 3}


@pytest.mark.asyncio
async def test_a_burst_pays_few_commits_on_sqlite(sqlite_url):
    commits = 0

    def count(_conn):
        nonlocal commits
        commits += 1

    async with open_writer(sqlite_url) as (engine, writer):
        event.listen(writer._sync_engine, "commit", count)
        days = [f"2026-02-{d:02d}" for d in range(1, 29)]
        assert await asyncio.gather(*(writer.transaction(_add_day, d, i) for i, d in enumerate(days))) \
            == list(range(len(days)))
        assert len(await _days(engine)) == len(days)
        assert commits < len(days) / 2  # grouped, not one commit per write


@pytest.mark.asyncio
async def test_a_submitter_woken_by_its_commit_shares_the_next_one(sqlite_url):
    """The group committer hands in its next batch as soon as the last one
    is committed; what queued meanwhile (a dialog step, say) must wait that
    one turn and share its commit, not take a commit of its own first."""
    import time

    async with open_writer(sqlite_url) as (engine, writer):
        groups: list[int] = []
        run_group = writer._run_group

        def counting(group):
            groups.append(len(group))
            return run_group(group)

        writer._run_group = counting
        loop = asyncio.get_running_loop()
        started = asyncio.Event()

        def first(conn):
            loop.call_soon_threadsafe(started.set)
            time.sleep(0.05)  # the straggler queues while this group runs
            return _add_day(conn, "2026-03-01", 1)

        async def batches():
            await writer.transaction(first)
            return await writer.transaction(_add_day, "2026-03-02", 2)  # handed in on waking

        async def straggler():
            await started.wait()
            return await writer.transaction(_add_day, "2026-03-03", 3)

        assert await asyncio.gather(batches(), straggler()) == [2, 3]
        assert groups == [1, 2]
        assert await _days(engine) == {"2026-03-01": 1, "2026-03-02": 2, "2026-03-03": 3}


@pytest.mark.asyncio
async def test_bulk_insert_stores_what_sqlalchemy_would(db_url):
    """The fast insert gives the same rows back as an ordinary insert:
    types converted, model defaults applied, RETURNING matched by value."""
    from datetime import datetime, timedelta, timezone

    from storage.models import AuditEntry
    from storage.sqlite_fast import BulkInsert

    engine = create_engine(db_url)
    at = datetime(2026, 11, 25, 8, 30, 15, 123456, tzinfo=timezone(timedelta(hours=8)))
    rows = [{"at": at, "actor": f"channel:t{i}", "action": "case.created", "case_id": None,
             "detail": {"number": f"N{i}", "matched": ["人防车位", "买卖"], "ok": i % 2 == 0}} for i in range(40)]
    try:
        bulk = BulkInsert(AuditEntry.__table__, returning=("id", "actor"))
        async with engine.begin() as conn:
            returned = await conn.run_sync(bulk, rows[:20])
            await conn.execute(insert(AuditEntry), rows[20:])
        assert sorted(actor for _, actor in returned) == sorted(f"channel:t{i}" for i in range(20))
        async with engine.connect() as conn:
            stored = {r.actor: r for r in (await conn.execute(select(AuditEntry))).all()}
        for i in range(40):
            r = stored[f"channel:t{i}"]
            assert r.at == at and r.at.utcoffset() == timedelta(0)  # kept in UTC, the same instant
            assert r.detail == rows[i]["detail"]
        ids = {actor: id_ for id_, actor in returned}
        assert all(stored[a].id == i for a, i in ids.items())
        with pytest.raises(KeyError):
            async with engine.begin() as conn:
                await conn.run_sync(bulk, [{"nope": 1}])
    finally:
        await engine.dispose()


@pytest.mark.asyncio
async def test_prepared_statements_give_what_sqlalchemy_gives(db_url):
    """``Prepared`` against SQLAlchemy's own execution of the same statement:
    the same rows (datetimes aware and in UTC, JSON decoded), IN lists of
    any length, a literal of the statement, RETURNING, several rows at once,
    and the same errors."""
    from datetime import date, datetime, timedelta, timezone

    from sqlalchemy import bindparam, literal_column, update

    from storage.dialects import insert_for
    from storage.models import DisclosureDialog
    from storage.queries.intake import _DIALECT
    from storage.sqlite_fast import Prepared

    engine = create_engine(db_url)
    at = datetime(2026, 11, 25, 8, 30, 15, 123456, tzinfo=timezone(timedelta(hours=8)))
    D = DisclosureDialog
    dialogs = [{"openid": f"o{i}", "step": "name" if i % 2 else "done", "data": {"keys": [f"k{i}"], "名": "张三"},
                "updated_at": at + timedelta(minutes=i)} for i in range(7)]
    pick = select(D.openid, D.step, D.data, D.updated_at, literal_column("7")).where(
        D.openid.in_(bindparam("ids", expanding=True)), D.step != "cancelled").order_by(D.openid)
    try:
        async with engine.begin() as conn:
            add_new = insert_for(conn.dialect.name, D).on_conflict_do_nothing(index_elements=["openid"])
            await conn.run_sync(Prepared(add_new), dialogs[:4])  # several rows: one executemany
            await conn.execute(add_new, dialogs[4:])
            await conn.run_sync(Prepared(add_new), dialogs[:1])  # a conflict: nothing
            save = update(D).where(D.openid == bindparam("key_openid")).returning(D.openid, D.updated_at)
            saved = await conn.run_sync(Prepared(save), {"key_openid": "o3", "step": "info", "updated_at": at})
            assert saved == [("o3", at)] and saved[0][1].utcoffset() == timedelta(0)
            run = Prepared(pick)
            for ids in (["o1"], ["o0", "o2", "o3", "nobody"], [f"o{i}" for i in range(7)], ["o6", "o5"]):
                theirs = [tuple(r) for r in await conn.execute(pick, {"ids": ids})]
                ours = await conn.run_sync(run, {"ids": ids})
                assert ours == theirs and ours
                assert all(isinstance(r[2], dict) and r[3].tzinfo is not None for r in ours)
            counter = _DIALECT[conn.dialect.name]["counter"]
            assert await conn.run_sync(counter, {"day": date(2026, 11, 25), "count": 3}) == [(3,)]
            assert await conn.run_sync(counter, {"day": date(2026, 11, 25), "count": 2}) == [(5,)]
        with pytest.raises(IntegrityError):
            async with engine.begin() as conn:
                await conn.run_sync(Prepared(insert(D)), [dict(dialogs[0], step="x")])
        with pytest.raises(ValueError):  # an empty IN list is the caller's to skip
            async with engine.begin() as conn:
                await conn.run_sync(run, {"ids": []}) if conn.dialect.name == "sqlite" else _raise(ValueError)
    finally:
        await engine.dispose()


def _raise(exc_type):
    raise exc_type()


def test_bulk_insert_refuses_what_it_cannot_do_faithfully():
    from sqlalchemy import Column, Integer, MetaData, Table, create_engine as create_sync

    from storage.sqlite_fast import BulkInsert

    t = Table("t", MetaData(), Column("id", Integer, primary_key=True), Column("a", Integer),
              Column("b", Integer, default=lambda ctx: ctx.get_current_parameters()["a"] + 1))
    engine = create_sync("sqlite://")
    t.metadata.create_all(engine)
    with engine.begin() as conn:
        with pytest.raises(ValueError, match="same keys"):
            BulkInsert(t)(conn, [{"a": 1}, {"a": 2, "b": 3}])
        with pytest.raises(ValueError, match="same keys"):  # as many keys, not the same ones
            BulkInsert(t)(conn, [{"a": 1, "b": 2}, {"a": 2, "id": 3}])
        with pytest.raises(ValueError, match="t.b"):  # a default that needs the statement's context
            BulkInsert(t)(conn, [{"a": 1}])
        BulkInsert(t)(conn, [{"a": 1, "b": 5}])
        assert conn.execute(select(t.c.a, t.c.b)).all() == [(1, 5)]


def _stops(conn) -> None:
    raise StopIteration  # a future can't carry this one


@pytest.mark.asyncio
async def test_a_piece_that_raises_oddly_fails_alone_and_the_writer_goes_on(sqlite_url):
    async with open_writer(sqlite_url) as (engine, writer):
        results = await asyncio.gather(writer.transaction(_add_day, "2026-03-01", 1), writer.transaction(_stops),
                                       return_exceptions=True)
        assert results[0] == 1 and isinstance(results[1], RuntimeError)
        assert await asyncio.wait_for(writer.transaction(_add_day, "2026-03-02", 2), 5) == 2
        await asyncio.wait_for(writer.wait_idle(), 5)
        assert await _days(engine) == {"2026-03-01": 1, "2026-03-02": 2}


def _breaks_the_connection(conn, day: str) -> None:
    _add_day(conn, day, 1)
    conn.invalidate()  # as a lost file handle or a driver failure would leave it
    raise OSError("the connection broke")


@pytest.mark.asyncio
async def test_the_writer_keeps_its_connection_and_replaces_a_broken_one(sqlite_url):
    async with open_writer(sqlite_url) as (engine, writer):
        opened = []
        event.listen(writer._sync_engine, "connect", lambda *_: opened.append(1))
        for day in ("2026-04-01", "2026-04-02", "2026-04-03"):
            await writer.transaction(_add_day, day, 1)
        assert len(opened) == 1  # one connection for all three groups
        with pytest.raises(OSError):
            await writer.transaction(_breaks_the_connection, "2026-04-04")
        assert await writer.transaction(_add_day, "2026-04-05", 5) == 5
        assert len(opened) == 2
        assert await _days(engine) == {"2026-04-01": 1, "2026-04-02": 1, "2026-04-03": 1, "2026-04-05": 5}


def _add_dialogs(conn, openids: list[str]) -> None:
    from datetime import datetime, timezone

    from storage.models import DisclosureDialog

    now = datetime.now(timezone.utc)
    conn.execute(insert(DisclosureDialog), [{"openid": o, "step": "name", "data": {}, "updated_at": now} for o in openids])


@pytest.mark.asyncio
async def test_keys_present_names_exactly_the_stored_keys(db_url):
    from storage.models import DisclosureDialog

    async with open_writer(db_url) as (engine, writer):
        await writer.transaction(_add_dialogs, [f"o{i}" for i in range(0, 1200, 7)])
        asked = [f"o{i}" for i in range(1200)] + ["o'; DROP TABLE disclosure_dialogs; --", ""]
        # more keys than SQLite binds in one statement
        assert await writer.keys_present(DisclosureDialog.openid, asked) == {f"o{i}" for i in range(0, 1200, 7)}
        assert await writer.keys_present(DisclosureDialog.openid, ["nobody"]) == set()
        assert await writer.keys_present(DisclosureDialog.openid, []) == set()


def test_the_fast_utc_text_is_sqlalchemys():
    import random
    from datetime import datetime, timedelta, timezone

    from sqlalchemy.dialects import sqlite

    from storage.sqlite_fast import _bind_processor, _sqlite_utc_text
    from storage.types import UTCDateTime

    dialect = sqlite.dialect()
    theirs = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    assert _bind_processor(UTCDateTime(), dialect) is _sqlite_utc_text
    rng = random.Random(5)
    for _ in range(3000):
        tz = timezone(timedelta(minutes=rng.randrange(-14 * 60, 14 * 60 + 1)))
        at = datetime(rng.randrange(2, 9999), rng.randrange(1, 13), rng.randrange(1, 29), rng.randrange(24),
                      rng.randrange(60), rng.randrange(60), rng.choice([0, rng.randrange(1_000_000)]), tzinfo=tz)
        assert _sqlite_utc_text(at) == theirs(at)
    assert _sqlite_utc_text(None) is theirs(None) is None
    with pytest.raises(ValueError):
        _sqlite_utc_text(datetime(2026, 1, 1))


@pytest.mark.asyncio
async def test_bulk_insert_errors_are_sqlalchemys(db_url):
    from storage.models import Message
    from storage.sqlite_fast import BulkInsert

    from datetime import datetime, timezone

    row = {"direction": "in", "channel": "wechat", "msg_type": "text", "text": "x", "dedupe_key": "k1",
           "status": "received", "created_at": datetime.now(timezone.utc)}
    async with open_writer(db_url) as (engine, writer):
        bulk = BulkInsert(Message.__table__)
        await writer.transaction(bulk, [row])
        with pytest.raises(IntegrityError) as err:  # the same dedupe_key again
            await writer.transaction(bulk, [row])
        assert "k1" not in str(err.value)  # parameters hidden from the message


@pytest.mark.asyncio
async def test_keys_present_after_close_does_not_reopen(sqlite_url):
    from storage.models import DisclosureDialog

    engine = create_engine(sqlite_url)
    writer = Writer(engine)
    try:
        await writer.transaction(_add_dialogs, ["oA"])
        assert await writer.keys_present(DisclosureDialog.openid, ["oA", "oB"]) == {"oA"}
        writer.close()
        with pytest.raises(RuntimeError, match="closed"):
            await writer.keys_present(DisclosureDialog.openid, ["oA"])
    finally:
        await engine.dispose()
