"""The classifier's commands (nlp/cli.py), given the database's staff
corrections for ``intake nlp train``."""

from __future__ import annotations

import asyncio

from nlp import cli as nlp_cli


def load_corrections(url: str | None) -> list[tuple[str, str | None, str | None]]:
    """(text, kind, topic) of every staff reclassification in the database at ``url``."""
    from bot.services import training
    from storage.database import Database

    async def run():
        db = Database(url or "sqlite+aiosqlite:///var/intake.db")
        try:
            return await training.corrections(db)
        finally:
            await db.close()

    return asyncio.run(run())


def register(sub) -> None:
    nlp_cli.register(sub, load_corrections=load_corrections)
