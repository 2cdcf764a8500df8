"""The writer (storage/writer.py): concurrent writes share a commit on
SQLite, one failing piece undoes only its own work, and nothing is answered
before its commit."""

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


async def test_a_batch_item_that_raises_anything_fails_alone_in_the_group_commit():
    """The group committer's item-by-item retry catches whatever an item
    raises (a date out of range in its deadline, say), not only database
    errors: the batch's other items are recorded all the same."""
    from storage.writer import GroupCommitter, retrying

    recorded: list[int] = []

    async def attempt(batch: list[int]) -> list[int]:
        if 13 in batch:
            raise OverflowError("date value out of range")
        await asyncio.sleep(0)
        recorded.extend(batch)
        return [n * 10 for n in batch]

    committer = GroupCommitter(lambda batch: retrying(attempt, batch))
    committer.start()
    try:
        results = await asyncio.gather(*(committer.submit(n) for n in range(30)), return_exceptions=True)
    finally:
        await committer.close()
    assert isinstance(results[13], OverflowError)
    assert [r for i, r in enumerate(results) if i != 13] == [n * 10 for n in range(30) if n != 13]
    assert sorted(recorded) == [n for n in range(30) if n != 13]


async def test_lanes_run_batches_side_by_side_but_never_one_key_in_two():
    """With several lanes, batches run at once (a slow batch does not hold
    the others up), yet items sharing a key (a sender) are never in two
    batches in flight, and each key's items are recorded in the order
    submitted."""
    from storage.writer import GroupCommitter

    in_flight: list[set] = []
    most_at_once = 0
    order: dict[str, list[int]] = {}

    async def run(batch: list[tuple[str, int]]) -> list[int]:
        nonlocal most_at_once
        senders = {sender for sender, _ in batch}
        for other in in_flight:
            assert not senders & other, f"{senders & other} in two batches at once"
        in_flight.append(senders)
        most_at_once = max(most_at_once, len(in_flight))
        try:
            await asyncio.sleep(0.01)  # the round trips a batch waits for
            for sender, n in batch:
                order.setdefault(sender, []).append(n)
            return [n for _, n in batch]
        finally:
            in_flight.remove(senders)

    committer = GroupCommitter(run, lanes=3, keys=lambda item: [item[0]], max_batch=8)
    committer.start()
    items = [(f"o{n % 7}", n) for n in range(200)]
    try:
        submitted = []
        for item in items:  # arriving over time, as requests do
            submitted.append(asyncio.ensure_future(committer.submit(item)))
            if item[1] % 10 == 0:
                await asyncio.sleep(0.002)
        assert await asyncio.gather(*submitted) == [n for _, n in items]
    finally:
        await committer.close()
    assert most_at_once > 1  # side by side …
    for sender, numbers in order.items():  # … and each sender's in order
        assert numbers == [n for s, n in items if s == sender]
    assert committer.items == 200


async def test_closing_with_lanes_finishes_everything_submitted():
    from storage.writer import GroupCommitter

    async def run(batch: list[int]) -> list[int]:
        await asyncio.sleep(0.005)
        return batch

    committer = GroupCommitter(run, lanes=3, keys=lambda n: [n % 2])
    committer.start()
    pending = [asyncio.ensure_future(committer.submit(n)) for n in range(50)]
    await asyncio.sleep(0)
    await asyncio.wait_for(committer.close(), 5)
    assert [p.result() for p in pending] == list(range(50))
    with pytest.raises(RuntimeError, match="not running"):
        await committer.submit(1)


def test_several_lanes_need_the_items_keys():
    from storage.writer import GroupCommitter

    with pytest.raises(ValueError, match="keys"):
        GroupCommitter(lambda batch: batch, lanes=2)
