"""BatchLookup: concurrent look-ups share one query; failures reach every waiter."""

import asyncio


from bot.services.batching import BatchLookup


async def test_concurrent_gets_share_one_query():
    calls: list[list[str]] = []

    async def fetch(keys):
        calls.append(sorted(keys))
        await asyncio.sleep(0.01)
        return {k: k.upper() for k in keys if k != "missing"}

    lookup = BatchLookup(fetch, default=None)
    got = await asyncio.gather(*(lookup.get(k) for k in ["a", "b", "a", "missing"]))
    assert got == ["A", "B", "A", None]
    assert calls == [["a", "b", "missing"]]
    # Keys asked while a query runs go into the next one.
    first = asyncio.ensure_future(lookup.get("c"))
    await asyncio.sleep(0.001)
    second = asyncio.ensure_future(lookup.get("d"))
    assert await first == "C" and await second == "D"
    assert calls[1:] == [["c"], ["d"]]


async def test_a_failed_query_fails_its_waiters_and_the_next_batch_works():
    async def fetch(keys):
        if "boom" in keys:
            raise RuntimeError("database down")
        return {k: 1 for k in keys}

    lookup = BatchLookup(fetch, default=0)
    results = await asyncio.gather(lookup.get("boom"), lookup.get("x"), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    assert await lookup.get("y") == 1
