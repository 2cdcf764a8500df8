"""Coalescing concurrent look-ups into one query (a "data loader").

Under load, many requests ask the same question about different keys at
once (is this WeChat user in the middle of a dialog?). ``BatchLookup``
gathers the keys asked for while the previous query runs and answers them
all with one query, so a burst costs one round trip per batch, not per
message.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Iterable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BatchLookup(Generic[K, V]):
    def __init__(self, fetch: Callable[[list[K]], Awaitable[dict[K, V]]], default: V, max_batch: int = 500):
        self._fetch = fetch  # keys → values found; missing keys get ``default``
        self._default = default
        self._max_batch = max_batch
        self._pending: dict[K, list[asyncio.Future]] = {}
        self._running = False

    async def get(self, key: K) -> V:
        fut = asyncio.get_running_loop().create_future()
        self._pending.setdefault(key, []).append(fut)
        if not self._running:
            self._running = True
            asyncio.get_running_loop().create_task(self._drain())
        return await fut

    async def _drain(self) -> None:
        try:
            while self._pending:
                await asyncio.sleep(0)  # let the requests of this loop turn join the batch
                keys = list(self._pending)[: self._max_batch]
                waiters = {k: self._pending.pop(k) for k in keys}
                try:
                    found = await self._fetch(keys)
                except Exception as exc:  # every waiter of this batch sees the failure
                    self._settle(waiters.items(), exc=exc)
                    continue
                self._settle(((k, w) for k, w in waiters.items()), found=found)
        finally:
            self._running = False

    def _settle(self, items: Iterable[tuple[K, list[asyncio.Future]]], *, found=None, exc=None) -> None:
        for key, futures in items:
            for fut in futures:
                if fut.done():
                    continue
                if exc is not None:
                    fut.set_exception(exc)
                else:
                    fut.set_result(found.get(key, self._default))
