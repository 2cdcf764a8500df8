"""The outbox over the JSON API: GET /api/v1/outbox, POST /api/v1/outbox/{id}/retry."""

from __future__ import annotations

from aiohttp import web

from bot.domain.masking import mask_text
from bot.services import outbox

from .common.json_api import decode_cursor, encode_cursor, int_param, iso, json_ok
from .common.keys import ACTOR, RUNTIME
from .common.params import path_id


def outbox_json(item, number: str | None, tz) -> dict:
    payload = item.payload or {}
    text = payload.get("reply", payload.get("text"))
    return {
        "id": item.id, "target": item.target, "case_id": item.case_id, "case_number": number,
        "message_id": item.message_id, "status": item.status, "attempts": item.attempts,
        "next_attempt_at": iso(item.next_attempt_at, tz) if item.status == "pending" else None,
        "last_error": item.last_error, "created_at": iso(item.created_at, tz), "sent_at": iso(item.sent_at, tz),
        "order_id": payload.get("order_id"),
        "text": mask_text(text) if isinstance(text, str) else None,
    }


async def list_outbox(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    page = await outbox.listing(
        rt, status=request.query.get("status") or None, target=request.query.get("target") or None,
        case_id=int_param(request, "case_id", lo=1, hi=2**62), limit=int_param(request, "limit", lo=1, hi=500, default=50),
        before_id=decode_cursor(request.query.get("cursor")))
    tz = rt.settings.tz
    return json_ok({"items": [outbox_json(item, number, tz) for item, number in page.items], "total": page.total,
                    "counts": page.counts, "next": encode_cursor(page.next_before) if page.next_before else None})


async def retry_outbox(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    item, number = await outbox.retry(rt, request[ACTOR], path_id(request, "item_id", "没有这条待发记录"))
    return json_ok(outbox_json(item, number, rt.settings.tz))
