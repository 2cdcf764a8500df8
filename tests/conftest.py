"""Shared fixtures: a real database (SQLite file, and PostgreSQL when it is
reachable), a real HTTP server on a loopback port, and a WeChat peer."""

from __future__ import annotations

import os
import secrets
import uuid
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.engine import make_url

from bot.config import Settings

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"  # spec facts vendored from ../shared (data/README.md)
PG_URL = os.environ.get("INTAKE_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
REQUIRE_PG = os.environ.get("INTAKE_REQUIRE_POSTGRES") == "1"

WECHAT = {
    "token": "testToken123",
    "aes_key": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
    "app_id": "wx2c2769f8efd9abc2",
    "account": "gh_0a1b2c3d4e5f",
}


async def _pg_admin(url: str):
    import asyncpg

    u = make_url(url)
    return await asyncpg.connect(
        host=u.host or "127.0.0.1", port=u.port or 5432, user=u.username or "postgres",
        password=u.password, database=u.database or "postgres", timeout=3,
    )


_pg_state: dict[str, str | None] = {}


async def _pg_available() -> str | None:
    """None when PostgreSQL answers, else why not."""
    if "reason" not in _pg_state:
        try:
            conn = await _pg_admin(PG_URL)
            await conn.close()
            _pg_state["reason"] = None
        except Exception as exc:  # any failure to connect means: not available here
            _pg_state["reason"] = f"PostgreSQL at {PG_URL} not reachable ({type(exc).__name__}: {exc})"
    return _pg_state["reason"]


@asynccontextmanager
async def empty_pg_database():
    """A new, empty PostgreSQL database's URL, dropped afterwards; the test
    skips (or fails, with INTAKE_REQUIRE_POSTGRES=1) where PostgreSQL is away."""
    reason = await _pg_available()
    if reason:
        if REQUIRE_PG:
            pytest.fail(f"INTAKE_REQUIRE_POSTGRES=1 but {reason}")
        pytest.skip(reason)
    name = f"intake_t_{uuid.uuid4().hex[:12]}"
    admin = await _pg_admin(PG_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        admin = await _pg_admin(PG_URL)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest_asyncio.fixture(params=["sqlite", "postgresql"])
async def db_url(request, tmp_path):
    """An empty, migrated database per test, on each backend."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'intake.db'}"
        await _migrate(url)
        yield url
        return
    async with empty_pg_database() as url:
        await _migrate(url)
        yield url


async def _migrate(url: str) -> None:
    from bot.app import migrate
    from storage.database import Database

    db = Database(url)
    try:
        await migrate(db)
    finally:
        await db.close()


@pytest.fixture(scope="session")
def classifier():
    from nlp import load_classifier

    return load_classifier()


def make_settings(db_url: str, tmp_path: Path, **overrides) -> Settings:
    values = dict(
        database_url=db_url, secret_key=secrets.token_urlsafe(16), var_dir=str(tmp_path / "var"),
        wechat_token=WECHAT["token"], wechat_aes_key=WECHAT["aes_key"], wechat_app_id=WECHAT["app_id"],
    )
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings(db_url, tmp_path) -> Settings:
    return make_settings(db_url, tmp_path)


@asynccontextmanager
async def serve(settings, classifier, *, outbox_options=None):
    """The real application on a loopback port, with a client for it
    (``client.runtime``: the application's runtime)."""
    from bot.app import build_runtime, create_app

    runtime = build_runtime(settings, classifier=classifier)
    client = TestClient(TestServer(create_app(settings, runtime, outbox_options=outbox_options), host="127.0.0.1"))
    await client.start_server()
    client.runtime = runtime
    try:
        yield client
    finally:
        await client.close()


@pytest_asyncio.fixture
async def server(settings, classifier):
    async with serve(settings, classifier) as client:
        yield client


async def enter_next_year(runtime) -> None:
    """Next year's calendar entered (1 January its only holiday). In December
    a deadline of 15 or 20 working days reaches next year, which the installed
    chinesecalendar may not know yet; without it the deadline is (rightly)
    left to staff. Tests about something else enter it so that they hold in
    every month."""
    from datetime import date, datetime

    from bot.domain.actors import Actor
    from bot.services import calendar

    year = datetime.now(runtime.settings.tz).year + 1
    await calendar.enter_year(runtime, Actor("test"), year, [date(year, 1, 1)], [])


@pytest_asyncio.fixture
async def next_year_entered(server):
    await enter_next_year(server.runtime)


async def make_token(runtime, username: str = "zhangsan", display_name: str | None = None, role: str = "staff") -> str:
    """A staff account and a Bearer token for it, stored as the CLI stores them."""
    from bot.domain.security import hash_password, new_token, token_hash
    from storage.models import ApiToken, User

    async with runtime.db.session() as session:
        user = User(username=username, display_name=display_name, role=role,
                    password_hash=hash_password("correct horse"))
        session.add(user)
        await session.flush()
        token = new_token()
        session.add(ApiToken(user_id=user.id, name="tests", token_hash=token_hash(token)))
        await session.commit()
    return token


@pytest_asyncio.fixture
async def api_token(server):
    return await make_token(server.runtime)


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]


@pytest_asyncio.fixture
async def browser():
    """Debian's chromium driven by Playwright; skips without it, fails
    instead when INTAKE_REQUIRE_BROWSER=1."""
    if not CHROMIUM.exists():
        reason = "Debian chromium is not installed at /usr/bin/chromium (apt-get install -y chromium)"
        if os.environ.get("INTAKE_REQUIRE_BROWSER") == "1":
            pytest.fail(f"INTAKE_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            await b.close()
