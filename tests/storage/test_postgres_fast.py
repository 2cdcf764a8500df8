"""The PostgreSQL fast path (storage/postgres_fast.py) against SQLAlchemy's
own insert() of the same rows: the same values stored (types converted,
JSON, aware datetimes, NULLs, model defaults), RETURNING, and the same
errors."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from storage.db import create_engine


def _same_but_id(a, b, skip=("id",)) -> dict:
    """The columns where two stored rows differ, the id aside."""
    return {k: (getattr(a, k), getattr(b, k)) for k in a._fields if k not in skip and getattr(a, k) != getattr(b, k)}


@pytest.mark.asyncio
async def test_unnest_insert_stores_what_sqlalchemy_would(db_url):
    from storage.models import AuditEntry, Case, Contact, Message
    from storage.postgres_fast import UnnestInsert
    from storage.queries.intake import insert_messages

    if not db_url.startswith("postgresql"):
        pytest.skip("the PostgreSQL fast path")
    engine = create_engine(db_url)
    at = datetime(2026, 11, 25, 8, 30, 15, 123456, tzinfo=timezone(timedelta(hours=8)))
    try:
        async with engine.begin() as conn:
            contact = (await conn.execute(insert(Contact).values(channel="wechat", identity="o1", created_at=at)
                                          .returning(Contact.id))).scalar_one()
            # Cases: every column the intake writes, RETURNING id and number.
            def case(n: str, i: int) -> dict:
                return {"number": n, "channel": "wechat", "kind": "complaint", "topic": "人防工程", "confidence": 0.5 + i,
                        "matched": ["漏水", "人防"], "needs_review": i % 2 == 0, "classified_by": "model",
                        "title": None, "text": f"小区人防工程漏水 {i}", "status": "new", "received_at": at,
                        "received_date": at.date(), "received_year": 2026, "last_message_at": at,
                        "deadline_at": at + timedelta(days=15) if i else None, "deadline_days": 15, "contact_id": contact,
                        "created_at": at, "updated_at": at, "version": 1, "search_tokens": "人防 漏水"}
            fast = UnnestInsert(Case.__table__, returning=("id", "number"))
            returned = await conn.run_sync(fast, [case(f"F{i}", i) for i in range(3)])
            await conn.execute(insert(Case), [case(f"S{i}", i) for i in range(3)])
            # Messages through the query the intake uses (defaults left out: msg_type, status).
            def message(key: str, i: int) -> dict:
                return {"case_id": None, "contact_id": contact, "direction": "in", "channel": "wechat",
                        "text": f"第{i}条\n带换行", "raw": "<xml/>" if i else None, "dedupe_key": key,
                        "reply_text": None, "created_at": at}
            await conn.run_sync(insert_messages, [message(f"f{i}", i) for i in range(4)])
            await conn.execute(insert(Message), [message(f"s{i}", i) for i in range(4)])
            # Audit rows: JSON detail, the time given or the model's default.
            detail = {"number": "F0", "matched": ["人防车位", "买卖"], "ok": True, "n": None}
            await conn.run_sync(UnnestInsert(AuditEntry.__table__),
                                [{"at": at, "actor": "channel:fast", "action": "case.created", "case_id": None,
                                  "detail": detail},
                                 {"at": at, "actor": "channel:fast-none", "action": "x", "case_id": None,
                                  "detail": None}])
            await conn.execute(insert(AuditEntry), [{"at": at, "actor": "channel:slow", "action": "case.created",
                                                     "case_id": None, "detail": detail},
                                                    {"at": at, "actor": "channel:slow-none", "action": "x",
                                                     "case_id": None, "detail": None}])
        async with engine.connect() as conn:
            cases = {r.number: r for r in (await conn.execute(select(Case.__table__))).all()}
            messages = {r.dedupe_key: r for r in (await conn.execute(select(Message.__table__))).all()}
            audit = {r.actor: r for r in (await conn.execute(select(AuditEntry.__table__))).all()}
        assert sorted(n for _, n in returned) == ["F0", "F1", "F2"]
        assert all(cases[n].id == i for i, n in returned)
        for i in range(3):
            assert _same_but_id(cases[f"F{i}"], cases[f"S{i}"], skip=("id", "number")) == {}
        assert cases["F1"].deadline_at == at + timedelta(days=15) and cases["F1"].matched == ["漏水", "人防"]
        for i in range(4):
            assert _same_but_id(messages[f"f{i}"], messages[f"s{i}"], skip=("id", "dedupe_key")) == {}
        assert messages["f0"].msg_type == "text" and messages["f0"].status == "received" and messages["f0"].raw is None
        assert _same_but_id(audit["channel:fast"], audit["channel:slow"], skip=("id", "actor")) == {}
        assert audit["channel:fast"].detail == detail
        assert _same_but_id(audit["channel:fast-none"], audit["channel:slow-none"], skip=("id", "actor")) == {}

        # The same errors as SQLAlchemy's: a stored delivery again is an IntegrityError.
        with pytest.raises(IntegrityError):
            async with engine.begin() as conn:
                await conn.run_sync(insert_messages, [message("f0", 9)])
        with pytest.raises(ValueError):
            async with engine.begin() as conn:
                await conn.run_sync(insert_messages, [message("x1", 1), {"text": "short"}])
        with pytest.raises(KeyError):
            async with engine.begin() as conn:
                await conn.run_sync(UnnestInsert(Message.__table__), [{"nope": 1}])
    finally:
        await engine.dispose()


@pytest.mark.asyncio
async def test_key_probe_answers_as_the_plain_read(db_url):
    """The one-statement probe finds what a read transaction through
    SQLAlchemy finds, for one key, many keys, none of them, and keys with
    characters that need no quoting help."""
    from storage import postgres_fast
    from storage.models import DisclosureDialog as D
    from storage.writer import _keys_present

    if not db_url.startswith("postgresql"):
        pytest.skip("the PostgreSQL fast path")
    engine = create_engine(db_url)
    now = datetime.now(timezone.utc)
    stored = [f"oUser{i}" for i in range(0, 300, 3)] + ["o'quote", "o,comma", "o{brace}"]
    try:
        async with engine.begin() as conn:
            await conn.execute(insert(D), [{"openid": o, "step": "name", "data": {}, "updated_at": now} for o in stored])
        asks = [["oUser3"], ["oUser4"], [f"oUser{i}" for i in range(300)] + ["o'quote", "o,comma", "o{brace}", "o"]]
        for keys in asks:
            async with engine.connect() as conn:
                plain = await conn.run_sync(_keys_present, D.openid, keys)
            assert await postgres_fast.keys_present(engine, D.openid, keys) == plain
        assert await postgres_fast.keys_present(engine, D.openid, ["o'quote", "o,comma"]) == {"o'quote", "o,comma"}
    finally:
        await engine.dispose()
