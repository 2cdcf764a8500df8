"""The fast path (storage/sqlite_fast.py) against SQLAlchemy's own
execution of the same statements: the same rows, conversions, defaults and
errors, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from storage.db import create_engine
from tests.storage.test_writer import open_writer


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
async def test_the_key_probe_finds_what_a_select_through_sqlalchemy_finds(tmp_path):
    from sqlalchemy import create_engine as create_sync

    from storage.models import DisclosureDialog
    from storage.sqlite_fast import KeyProbe
    from tests.conftest import _migrate

    path = tmp_path / "probe.db"
    await _migrate(f"sqlite+aiosqlite:///{path}")
    engine = create_sync(f"sqlite:///{path}")
    from datetime import datetime, timezone

    stored = [f"o{i}" for i in range(0, 2500, 3)] + ["带中文的openid", "o'quote", ""]
    with engine.begin() as conn:
        conn.execute(insert(DisclosureDialog), [{"openid": o, "step": "name", "data": {},
                                                  "updated_at": datetime.now(timezone.utc)} for o in stored])
    asked = [f"o{i}" for i in range(2500)] + ["带中文的openid", "o'quote", "", "o'; DROP TABLE x; --"]
    probe = KeyProbe(str(path), engine.dialect)
    try:
        with engine.connect() as conn:
            theirs = set(conn.execute(select(DisclosureDialog.openid).where(DisclosureDialog.openid.in_(asked)))
                         .scalars())
        assert probe(DisclosureDialog.openid, asked) == theirs == set(stored)  # more keys than one statement binds
        assert probe(DisclosureDialog.openid, ["nobody"]) == set()
    finally:
        probe.close()
        engine.dispose()
