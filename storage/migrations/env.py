"""Alembic environment: uses the connection handed over by storage.migrate,
or INTAKE_DATABASE_URL when run by the ``alembic`` command."""

from __future__ import annotations

import asyncio

from alembic import context

from storage.models import Base

target_metadata = Base.metadata


def _configure(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        return
    import os

    from storage.db import create_engine

    # The `alembic` command on its own: the URL from alembic.ini or the environment.
    url = (context.config.get_main_option("sqlalchemy.url") or os.environ.get("INTAKE_DATABASE_URL")
           or "sqlite+aiosqlite:///var/intake.db")

    async def go() -> None:
        engine = create_engine(url)
        async with engine.begin() as conn:
            await conn.run_sync(_configure)
        await engine.dispose()

    asyncio.run(go())


if context.is_offline_mode():
    context.configure(url=context.config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_online()
