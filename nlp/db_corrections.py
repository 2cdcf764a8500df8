"""Staff corrections from the database, for ``intake nlp train``.

Kept apart so that training from a CSV never depends on the database code.
``storage.queries.iter_corrections(session)`` (provided by storage) yields
(text, kind, topic) rows; it may be a plain or an async iterator, or a
coroutine returning a list.
"""

from __future__ import annotations

import asyncio
import inspect


def load_corrections(url: str | None) -> list[tuple[str, str | None, str | None]]:
    try:
        from storage.queries import iter_corrections  # type: ignore[import-not-found]
    except ImportError as e:
        raise RuntimeError("storage.queries.iter_corrections is not available yet") from e
    from sqlalchemy.ext.asyncio import async_sessionmaker

    try:  # the project's engine (SQLite pragmas, pool settings)
        from storage.db import create_engine as _engine
    except ImportError:  # pragma: no cover
        from sqlalchemy.ext.asyncio import create_async_engine as _engine

    url = url or "sqlite+aiosqlite:///var/intake.db"

    async def run():
        engine = _engine(url)
        try:
            async with async_sessionmaker(engine)() as session:
                res = iter_corrections(session)
                if inspect.isawaitable(res):
                    res = await res
                out = []
                if hasattr(res, "__aiter__"):
                    async for row in res:
                        out.append(_triple(row))
                else:
                    for row in res:
                        out.append(_triple(row))
                return out
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _triple(row) -> tuple:
    if isinstance(row, dict):
        return row.get("text"), row.get("kind"), row.get("topic")
    text, kind, topic = tuple(row)[:3]
    return text, kind, topic
