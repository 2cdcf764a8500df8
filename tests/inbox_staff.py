"""Helpers for the inbox tests: staff accounts, logging in through the real
form, and posting forms with the CSRF token the page carries."""

from __future__ import annotations

import re
from html import unescape

from bot.domain.security import hash_password
from storage.models import User
from tests.conftest import serve  # noqa: F401  (the pages' tests import it from here)

PASSWORD = "correct horse battery"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_VERSION = re.compile(r'name="version" value="(\d+)"')


async def add_user(runtime, username: str, role: str = "staff", password: str = PASSWORD,
                   display_name: str | None = None) -> int:
    async with runtime.db.session() as session:
        user = User(username=username, role=role, password_hash=hash_password(password), display_name=display_name)
        session.add(user)
        await session.commit()
        return user.id


def csrf_of(html: str) -> str:
    m = _CSRF.search(html)
    assert m, "page carries no CSRF token"
    return unescape(m.group(1))


def version_of(html: str) -> int:
    m = _VERSION.search(html)
    assert m, "page carries no version"
    return int(m.group(1))


async def login(client, username: str, password: str = PASSWORD, next_path: str = ""):
    page = await client.get("/login" + (f"?next={next_path}" if next_path else ""))
    token = csrf_of(await page.text())
    return await client.post("/login", data={"username": username, "password": password, "csrf_token": token,
                                             "next": next_path}, allow_redirects=False)


async def page(client, path: str) -> str:
    resp = await client.get(path)
    assert resp.status == 200, (path, resp.status, await resp.text())
    return await resp.text()


async def submit(client, page_path: str, action: str, data: dict, **kw):
    """Post a form from ``page_path`` as a browser would (token from the page)."""
    html = await page(client, page_path)
    return await client.post(action, data={"csrf_token": csrf_of(html), **data}, allow_redirects=False, **kw)
