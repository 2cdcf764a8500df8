"""Apply Alembic migrations from code (``intake db upgrade``, ``intake serve``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).with_name("migrations")
MIGRATION_LOCK = 0x696E74616B65  # "intake": the PostgreSQL advisory lock migrations hold


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


async def upgrade(engine: AsyncEngine, revision: str = "head", *,
                  document_tokens: Callable[..., str] | None = None,
                  answer_figures: Callable[..., Callable] | None = None) -> None:
    """Migrate to ``revision``. ``document_tokens`` (nlp/search_tokens.py,
    given by the assembly) makes the search tokens of cases recorded before
    the search migration (storage does not tokenise text itself);
    ``answer_figures(calendar overrides, entered years)`` makes the function
    that dates the answers given before 0006 and counts their working days
    (storage knows neither the office's time zone nor its calendar rules)."""
    def run(sync_conn) -> None:
        if sync_conn.dialect.name == "postgresql":
            # Several hosts starting at once: one migrates, the others wait
            # for its commit here and then find nothing left to do.
            sync_conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
        cfg = alembic_config()
        cfg.attributes["connection"] = sync_conn
        cfg.attributes["document_tokens"] = document_tokens
        cfg.attributes["answer_figures"] = answer_figures
        command.upgrade(cfg, revision)

    async with engine.begin() as conn:
        await conn.run_sync(run)
