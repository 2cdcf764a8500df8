"""The knowledge base over the JSON API (/api/v1/kb/…). Reading, trying a
question and judging automatic answers are open to all staff; changing
entries, rules and the welcome text needs an admin account."""

from __future__ import annotations

from aiohttp import web

from bot.domain.answers import entry_data, rule_data
from bot.domain.errors import Conflict, InvalidInput
from bot.domain.masking import mask_text
from bot.services import knowledge
from bot.services.knowledge import ADMINS_ONLY

from .common.json_api import admin_only, int_param, json_ok, read_json
from .common.keys import ACTOR, RUNTIME
from .common.params import path_id

ENTRY = "/api/v1/kb/entries/{key}"


def _entry_json(e) -> dict:
    out = entry_data(e)
    for k in ("valid_from", "valid_to"):
        if k in out:
            out[k] = out[k].isoformat()
    out.setdefault("valid_from", None)
    out.setdefault("valid_to", None)
    out["active"] = e.active
    out["learned"] = list(e.learned)
    return out


async def list_entries(request: web.Request) -> web.Response:
    current = request.app[RUNTIME].knowledge.current
    return json_ok({"items": [_entry_json(e) for e in sorted(current.entries.values(), key=lambda e: e.key)]})


@admin_only(ADMINS_ONLY)
async def create_entry(request: web.Request) -> web.Response:
    data = await read_json(request)
    try:
        entry, created = await knowledge.save_entry(request.app[RUNTIME], request[ACTOR], data, create_only=True)
    except Conflict as exc:
        key = data.get("key")
        raise Conflict(f"key {key} 已存在，请用 PUT {ENTRY.format(key=key)} 修改", exc.field, exc.code) from None
    return json_ok(_entry_json(entry), 201)


@admin_only(ADMINS_ONLY)
async def put_entry(request: web.Request) -> web.Response:
    data = await read_json(request)
    entry, created = await knowledge.save_entry(request.app[RUNTIME], request[ACTOR], data,
                                                key=request.match_info["key"])
    return json_ok(_entry_json(entry), 201 if created else 200)


@admin_only(ADMINS_ONLY)
async def delete_entry(request: web.Request) -> web.Response:
    entry = await knowledge.deactivate_entry(request.app[RUNTIME], request[ACTOR], request.match_info["key"])
    return json_ok(_entry_json(entry))


async def get_rules(request: web.Request) -> web.Response:
    current = request.app[RUNTIME].knowledge.current
    return json_ok({"items": [rule_data(r) | {"active": r.active} for r in current.rules], "welcome": current.welcome})


@admin_only(ADMINS_ONLY)
async def put_rules(request: web.Request) -> web.Response:
    """Replace the keyword rules (and the welcome text when given)."""
    data = await read_json(request)
    await knowledge.set_rules(request.app[RUNTIME], request[ACTOR], data.get("items"), data.get("welcome"),
                              with_welcome="welcome" in data)
    return await get_rules(request)


async def try_match(request: web.Request) -> web.Response:
    data = await read_json(request)
    return json_ok(await knowledge.try_question(request.app[RUNTIME], data.get("text")))


async def list_answers(request: web.Request) -> web.Response:
    """Automatic answers, newest first, for staff to check."""
    rt = request.app[RUNTIME]
    limit = int_param(request, "limit", lo=1, hi=500, default=50)
    rows = await knowledge.recent_answers(rt, limit=limit, before_id=int_param(request, "before", lo=1, hi=2**62),
                                          unreviewed=request.query.get("unreviewed") in ("1", "true"))
    tz = rt.settings.tz
    items = [{"id": a.id, "case_id": a.case_id, "case_number": number, "case_status": status,
              "question": mask_text(a.question), "entry": a.entry_key, "score": round(a.score, 3),
              "needs_person": a.needs_person, "reviewed": a.reviewed, "at": a.at.astimezone(tz).isoformat()}
             for a, number, status in rows]
    return json_ok({"items": items, "next": items[-1]["id"] if len(items) == limit else None})


async def judge_answer(request: web.Request) -> web.Response:
    """``{"entry": KEY}`` (the right entry, may be the one given) or
    ``{"entry": null}`` (no entry fits: a person must answer)."""
    answer_id = path_id(request, "answer_id", "没有这条自动答复记录")
    data = await read_json(request)
    if "entry" not in data or not (data["entry"] is None or isinstance(data["entry"], str)):
        raise InvalidInput("entry 必须是正确条目的 key，或 null 表示没有合适的条目", "entry", "missing")
    answer = await knowledge.judge_answer(request.app[RUNTIME], request[ACTOR], answer_id, data["entry"])
    return json_ok({"id": answer.id, "reviewed": answer.reviewed, "case_id": answer.case_id})
