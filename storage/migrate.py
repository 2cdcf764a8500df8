"""Apply Alembic migrations from code (``intake db upgrade``, ``intake serve``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


async def upgrade(engine: AsyncEngine, revision: str = "head", *,
                  document_tokens: Callable[..., str] | None = None) -> None:
    """Migrate to ``revision``. ``document_tokens`` (nlp/search_tokens.py,
    given by the assembly) makes the search tokens of cases recorded before
    the search migration; storage does not tokenise text itself."""
    def run(sync_conn) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = sync_conn
        cfg.attributes["document_tokens"] = document_tokens
        command.upgrade(cfg, revision)

    async with engine.begin() as conn:
        await conn.run_sync(run)
