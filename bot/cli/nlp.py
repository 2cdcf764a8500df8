"""The classifier's commands (nlp/cli.py), given the database's staff
corrections for ``intake nlp train``."""

from __future__ import annotations

import asyncio

from nlp import cli as nlp_cli

from .common import command_settings


def load_corrections(url: str | None) -> list[tuple[str, str | None, str | None]]:
    """(text, kind, topic) of every staff reclassification in the database at
    ``url`` (default: the one ``intake serve`` uses), which must exist."""
    from bot.services import training
    from storage.database import Database
    from storage.migrate import require_schema

    async def run():
        found = url or command_settings().database_url
        await require_schema(found)  # never creates one
        db = Database(found)
        try:
            return await training.corrections(db)
        finally:
            await db.close()

    return asyncio.run(run())


def register(sub) -> None:
    nlp_cli.register(sub, load_corrections=load_corrections)
