"""Signing in under pressure: concurrent wrong guesses are counted before the
password is checked, so no more than five get through for one name; a
successful sign-in gives its own attempt back; names may be Chinese."""

from __future__ import annotations

import asyncio

import pytest

from bot.domain.actors import CLI
from bot.domain.errors import InvalidInput
from bot.services import accounts
from storage.models import AuditEntry, LoginThrottle
from sqlalchemy import func, select


async def _guesses_checked(runtime) -> int:
    async with runtime.db.session() as s:
        return (await s.execute(select(func.count()).select_from(AuditEntry)
                                .where(AuditEntry.action == "staff.login_failed"))).scalar_one()


async def test_thirty_concurrent_wrong_guesses_check_at_most_five_passwords(server):
    rt = server.runtime
    await accounts.add_user(rt, CLI, "alice", role="staff", password="correct-horse")
    results = await asyncio.gather(*(accounts.sign_in(rt, "alice", f"wrong{i}", "10.0.0.1") for i in range(30)))
    assert all(actor is None for actor, _, _ in results)
    assert sum("次数过多" in message for _, _, message in results) == 25
    assert await _guesses_checked(rt) == 5
    actor, _, message = await accounts.sign_in(rt, "alice", "correct-horse", "10.0.0.2")
    assert actor is None and "次数过多" in message  # the name stays locked for its 15 minutes


async def test_a_successful_sign_in_does_not_count_against_the_address(server):
    rt = server.runtime
    await accounts.add_user(rt, CLI, "bob", role="staff", password="correct-horse")
    for _ in range(3):
        await accounts.sign_in(rt, "bob", "wrong", "10.0.0.3")
    actor, session_id, _ = await accounts.sign_in(rt, "bob", "correct-horse", "10.0.0.3")
    assert actor is not None and session_id
    async with rt.db.session() as s:
        throttles = {t.key: t.failures for t in (await s.execute(select(LoginThrottle))).scalars()}
    assert "user:bob" not in throttles and throttles["addr:10.0.0.3"] == 3


async def test_the_fourth_wrong_guess_then_the_right_password_signs_in(server):
    rt = server.runtime
    await accounts.add_user(rt, CLI, "carol", role="staff", password="correct-horse")
    for _ in range(4):
        await accounts.sign_in(rt, "carol", "wrong", "10.0.0.4")
    actor, _, message = await accounts.sign_in(rt, "carol", "correct-horse", "10.0.0.4")
    assert actor is not None, message


async def test_chinese_user_names_are_accepted_and_blank_ones_refused(server):
    rt = server.runtime
    await accounts.add_user(rt, CLI, "张三", role="staff", password="12345678", display_name="张三")
    actor, _, _ = await accounts.sign_in(rt, "张三", "12345678", "10.0.0.5")
    assert actor is not None and actor.username == "张三"
    for bad in ("", "   ", "张 三", "a\x00b", "x" * 65):
        with pytest.raises(InvalidInput):
            await accounts.add_user(rt, CLI, bad, role="staff", password="12345678")
