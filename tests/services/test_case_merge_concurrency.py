"""Merges at the same moment as other work on the same cases, on
PostgreSQL (SQLite's one writer serialises them anyway, so it runs there
too as a check of the same outcome): A→B and B→A together never deadlock,
and a merge into B while B is answered keeps both changes' version steps.
Twenty tries each, as the fault trials did (they saw 18 and 13 failures)."""

from __future__ import annotations

import asyncio

from bot.domain.actors import Actor
from bot.domain.casework import CaseError
from bot.services import cases
from storage.models import Case

TRIES = 20
LETTER = {"channel": "letter", "received_at": "2020-03-15 09:21", "text": "咨询人防车位能否买卖",
          "contact": {"name": "李四", "phone": "13800001234"}}


async def two_cases(server, token):
    made = []
    for i in range(2):
        resp = await server.post("/api/v1/cases", json={**LETTER, "text": f"{LETTER['text']}（{i}）"},
                                 headers={"Authorization": f"Bearer {token}"})
        assert resp.status == 201
        made.append(await resp.json())
    return made


async def test_crosswise_merges_at_the_same_moment_never_deadlock(server, api_token):
    staff = Actor("user:test", display_name="测试")
    for _ in range(TRIES):
        a, b = await two_cases(server, api_token)
        results = await asyncio.gather(cases.merge(server.runtime, staff, a["id"], b["number"]),
                                       cases.merge(server.runtime, staff, b["id"], a["number"]),
                                       return_exceptions=True)
        # One wins; the other is refused as a rule (the target is merged
        # already), never a database error such as a deadlock.
        errors = [r for r in results if isinstance(r, BaseException)]
        assert len(errors) == 1 and isinstance(errors[0], CaseError), results
        async with server.runtime.db.session() as s:
            merged = [c for c in (await s.get(Case, a["id"]), await s.get(Case, b["id"])) if c.merged_into_id]
            assert len(merged) == 1


async def test_a_merge_into_a_case_being_answered_keeps_its_version_step(server, api_token):
    staff = Actor("user:test", display_name="测试")
    for _ in range(TRIES):
        a, b = await two_cases(server, api_token)
        async with server.runtime.db.session() as s:
            start = (await s.get(Case, b["id"])).version
        await asyncio.gather(cases.merge(server.runtime, staff, a["id"], b["number"]),
                             cases.reply(server.runtime, staff, b["id"], "您好，答复如下。", reply_type="interim",
                                         delivered_by="电话"))
        async with server.runtime.db.session() as s:
            target = await s.get(Case, b["id"])
            assert target.version == start + 2, (start, target.version)  # the merge's and the reply's
