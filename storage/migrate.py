"""Apply Alembic migrations from code (``intake db upgrade``, ``intake serve``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.exc import DBAPIError
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


class NoDatabase(Exception):
    """Where a database should be, there is none of ours (no file, no
    PostgreSQL database, or one without our tables)."""


async def require_schema(url: str) -> None:
    """Raise ``NoDatabase`` unless ``url`` names a database that migrations
    have set up; create nothing. Errors reaching the server (refused,
    unknown host) are raised as they come."""
    import sqlite3
    from urllib.parse import quote

    from sqlalchemy import inspect

    from .db import create_engine, is_sqlite, sqlite_file

    if is_sqlite(url):
        path = sqlite_file(url)
        if path is None:
            return
        if not path.is_file():
            raise NoDatabase(f"{path.resolve()} does not exist")
        conn = sqlite3.connect(f"file:{quote(str(path))}?mode=rw", uri=True)
        try:
            found = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'alembic_version'").fetchone()
        except sqlite3.DatabaseError as exc:
            raise NoDatabase(f"{path.resolve()} is not an SQLite database ({exc})") from None
        finally:
            conn.close()
        if not found:
            raise NoDatabase(f"{path.resolve()} has no tables of ours")
        return
    engine = create_engine(url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            found = await conn.run_sync(lambda sync: inspect(sync).has_table("alembic_version"))
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) == "3D000":  # invalid_catalog_name: no such database
            raise NoDatabase("the database does not exist") from None
        raise
    finally:
        await engine.dispose()
    if not found:
        raise NoDatabase("the database has no tables of ours")
