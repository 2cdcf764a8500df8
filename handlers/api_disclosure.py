"""Disclosure requests and their reviews over the JSON API:
PUT/GET /api/v1/cases/{id}/disclosure, POST …/disclosure/{step},
GET …/answer-letter.docx, /api/v1/reviews."""

from __future__ import annotations

from aiohttp import web

from bot.exports.answer_letter import letter_docx
from bot.exports.report_formats import CONTENT_TYPES
from bot.services import disclosure

from .common.json_api import int_param, json_ok, read_json, read_json_or_empty
from .common.keys import ACTOR, RUNTIME
from .common.params import path_id


def review_json(r) -> dict:
    return {"id": r.id, "case_id": r.case_id, "kind": r.kind, "filed_on": r.filed_on.isoformat(),
            "result": r.result, "concluded_on": r.concluded_on.isoformat() if r.concluded_on else None,
            "note": r.note}


async def put_disclosure(request: web.Request) -> web.Response:
    data = await read_json(request)
    view, created = await disclosure.save(request.app[RUNTIME], request[ACTOR], path_id(request), data)
    return json_ok(view.as_dict(), 201 if created else 200)


async def get_disclosure(request: web.Request) -> web.Response:
    unmask = request.query.get("unmask") in ("1", "true")
    view = await disclosure.get(request.app[RUNTIME], request[ACTOR], path_id(request), unmask=unmask)
    return json_ok(view.as_dict())


async def take_step(request: web.Request) -> web.Response:
    """POST …/disclosure/{step}: correction-notice, corrected, abandoned,
    third-party, third-party-answer, extension, stage."""
    data = await read_json_or_empty(request)
    step = request.match_info["step"].replace("-", "_")
    view = await disclosure.take_step(request.app[RUNTIME], request[ACTOR], path_id(request), step, data)
    return json_ok(view.as_dict())


def letter_response(number: str, text: str, fmt: str | None = None) -> web.Response:
    if fmt == "txt":
        return web.Response(text=text, content_type="text/plain", charset="utf-8")
    return web.Response(
        body=letter_docx(text), content_type=CONTENT_TYPES["docx"],
        headers={"Content-Disposition": f'attachment; filename="answer-letter-{number}.docx"'},
    )


async def answer_letter(request: web.Request) -> web.Response:
    case, text = await disclosure.answer_letter(request.app[RUNTIME], request[ACTOR], path_id(request))
    return letter_response(case.number, text, request.query.get("format"))


async def post_review(request: web.Request) -> web.Response:
    review = await disclosure.add_review(request.app[RUNTIME], request[ACTOR], await read_json(request))
    return json_ok(review_json(review), 201)


async def patch_review(request: web.Request) -> web.Response:
    review_id = path_id(request, "review_id", "没有这个复议或诉讼记录")
    review = await disclosure.update_review(request.app[RUNTIME], request[ACTOR], review_id, await read_json(request))
    return json_ok(review_json(review))


async def list_reviews(request: web.Request) -> web.Response:
    year = int_param(request, "year", lo=1990, hi=2100)
    items = [review_json(r) for r in await disclosure.list_reviews(request.app[RUNTIME], year)]
    return json_ok({"items": items, "total": len(items)})
