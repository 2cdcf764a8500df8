"""Knowledge-base admin API (/api/v1/kb/…, Bearer like the rest of /api/v1).

Reading, trying a question and judging automatic answers are open to all
staff; changing entries, rules and the welcome text needs an admin account.
"""

from __future__ import annotations

from aiohttp import web

from bot import knowledge as kb
from bot.answers import AnswersError, entry_data, rule_data
from bot.cases import mask_text
from bot.services import SERVICES, Services
from storage import kb_queries

from .api import ACTOR, ApiError, _int_param, json_ok, read_json
from .wechat_answers import current, reload, today

ENTRY = "/api/v1/kb/entries/{key}"


def _admin(request: web.Request) -> None:
    user = request[ACTOR].user
    if user is None or user.role != "admin":
        raise ApiError(403, "forbidden", "只有管理员可以修改知识库")


def _bad(exc: AnswersError) -> ApiError:
    return ApiError(400, "invalid", exc.message, exc.field)


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


async def _reload(request: web.Request) -> None:
    # This worker at once; the others within a few seconds (revision check).
    await reload(request.app[SERVICES])


async def list_entries(request: web.Request) -> web.Response:
    knowledge = current(request.app[SERVICES])
    return json_ok({"items": [_entry_json(e) for e in sorted(knowledge.entries.values(), key=lambda e: e.key)]})


async def create_entry(request: web.Request) -> web.Response:
    _admin(request)
    return await _save(request, None)


async def put_entry(request: web.Request) -> web.Response:
    _admin(request)
    return await _save(request, request.match_info["key"])


async def _save(request: web.Request, key: str | None) -> web.Response:
    services: Services = request.app[SERVICES]
    data = await read_json(request)
    async with services.sessions() as session:
        try:
            row, created = await kb.save_entry(session, data, request[ACTOR].label, key=key)
        except AnswersError as exc:
            raise _bad(exc) from None
        if key is None and not created:
            raise ApiError(409, "exists", f"key {row.key} 已存在，请用 PUT {ENTRY.format(key=row.key)} 修改", "key")
        await session.commit()
        body = _entry_json(kb.entry_from_row(row))
    await _reload(request)
    return json_ok(body, 201 if created else 200)


async def delete_entry(request: web.Request) -> web.Response:
    _admin(request)
    services: Services = request.app[SERVICES]
    async with services.sessions() as session:
        try:
            row = await kb.deactivate_entry(session, request.match_info["key"], request[ACTOR].label)
        except AnswersError as exc:
            raise ApiError(404, "not_found", exc.message, exc.field) from None
        await session.commit()
        body = _entry_json(kb.entry_from_row(row))
    await _reload(request)
    return json_ok(body)


async def get_rules(request: web.Request) -> web.Response:
    knowledge = current(request.app[SERVICES])
    return json_ok({"items": [rule_data(r) | {"active": r.active} for r in knowledge.rules],
                    "welcome": knowledge.welcome})


async def put_rules(request: web.Request) -> web.Response:
    """Replace the keyword rules (and the welcome text when given)."""
    _admin(request)
    services: Services = request.app[SERVICES]
    data = await read_json(request)
    try:
        rules = kb.parse_rules(data.get("items"), "items")
        welcome = kb.check_welcome(data["welcome"]) if "welcome" in data else None
    except AnswersError as exc:
        raise _bad(exc) from None
    async with services.sessions() as session:
        await kb.set_rules(session, rules, request[ACTOR].label)
        if welcome is not None:
            await kb.set_welcome(session, welcome, request[ACTOR].label)
        await session.commit()
    await _reload(request)
    return await get_rules(request)


async def try_match(request: web.Request) -> web.Response:
    """What the account would answer to a question today (and the runners-up)."""
    services: Services = request.app[SERVICES]
    data = await read_json(request)
    text = data.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ApiError(400, "missing", "text 不能为空", "text")
    knowledge = current(services)
    day = today(services)
    rule = knowledge.rule_for(text)
    kind = services.classifier.classify(text).kind
    answer = knowledge.answer_for(text, kind, day)
    return json_ok({
        "rule": {"match": rule.match, "pattern": rule.pattern, "reply": rule.reply} if rule else None,
        "answer": answer.as_dict() | {"text": answer.answer} if answer else None,
        "candidates": [{"entry": m.entry.key, "score": round(m.score, 3), "wording": m.wording}
                       for m in knowledge.matcher.ranked(text, day)],
        "threshold": knowledge.matcher.threshold,
    })


async def list_answers(request: web.Request) -> web.Response:
    """Automatic answers, newest first, for staff to check."""
    services: Services = request.app[SERVICES]
    limit = _int_param(request, "limit", lo=1, hi=500, default=50)
    before = _int_param(request, "before", lo=1, hi=2**62)
    unreviewed = request.query.get("unreviewed") in ("1", "true")
    tz = services.settings.tz
    async with services.sessions() as session:
        rows = await kb_queries.recent_answers(session, limit=limit, before_id=before, unreviewed=unreviewed)
    items = [{"id": a.id, "case_id": a.case_id, "case_number": number, "case_status": status,
              "question": mask_text(a.question), "entry": a.entry_key, "score": round(a.score, 3),
              "needs_person": a.needs_person, "reviewed": a.reviewed, "at": a.at.astimezone(tz).isoformat()}
             for a, number, status in rows]
    return json_ok({"items": items, "next": items[-1]["id"] if len(items) == limit else None})


async def judge_answer(request: web.Request) -> web.Response:
    """``{"entry": KEY}`` (the right entry, may be the one given) or
    ``{"entry": null}`` (no entry fits: a person must answer)."""
    services: Services = request.app[SERVICES]
    try:
        answer_id = int(request.match_info["answer_id"])
    except ValueError:
        raise ApiError(404, "not_found", "没有这条自动答复记录") from None
    data = await read_json(request)
    if "entry" not in data or not (data["entry"] is None or isinstance(data["entry"], str)):
        raise ApiError(400, "missing", "entry 必须是正确条目的 key，或 null 表示没有合适的条目", "entry")
    actor = request[ACTOR]
    async with services.sessions() as session:
        try:
            answer = await kb.judge_answer(session, answer_id, data["entry"], actor.label, actor.user_id)
        except AnswersError as exc:
            status = 404 if exc.field == "answer_id" else 400
            raise ApiError(status, "not_found" if status == 404 else "invalid", exc.message, exc.field) from None
        await session.commit()
        body = {"id": answer.id, "reviewed": answer.reviewed, "case_id": answer.case_id}
    await _reload(request)
    return json_ok(body)


def setup(app: web.Application) -> None:
    app.router.add_get("/api/v1/kb/entries", list_entries)
    app.router.add_post("/api/v1/kb/entries", create_entry)
    app.router.add_put(ENTRY, put_entry)
    app.router.add_delete(ENTRY, delete_entry)
    app.router.add_get("/api/v1/kb/rules", get_rules)
    app.router.add_put("/api/v1/kb/rules", put_rules)
    app.router.add_post("/api/v1/kb/match", try_match)
    app.router.add_get("/api/v1/kb/answers", list_answers)
    app.router.add_post("/api/v1/kb/answers/{answer_id}/judgement", judge_answer)
