"""Cases over the JSON API (/api/v1/cases…, Bearer tokens): manual entry,
lists, one case with its thread, staff changes and replies."""

from __future__ import annotations

from aiohttp import web

from bot.domain.dates import parse_time
from bot.domain.errors import InvalidInput
from bot.domain.inbox import CaseFilter
from bot.domain.masking import mask_phone, mask_text
from bot.domain.vocabulary import CHANNELS, KINDS, REPLY_TYPES, STATUSES, TOPICS, RatingSource, ReplyType
from bot.services import cases, lifecycle, tracking
from bot.services.cases import ManualEntry

from .common.json_api import (
    DEFAULT_LIMIT, MAX_LIMIT, choice_param, decode_cursor, encode_cursor, int_param, iso, json_ok, read_json,
    str_field,
)
from .common.keys import ACTOR, RUNTIME
from .common.params import path_id


def case_json(case, tz, *, contact=None, assignee: str | None = None, unmask: bool = False) -> dict:
    show = (lambda t: t) if unmask else (lambda t: mask_text(t) if t else t)
    out = {
        "id": case.id, "number": case.number, "channel": case.channel, "kind": case.kind, "topic": case.topic,
        "status": case.status, "title": show(case.title), "text": show(case.text),
        "received_at": iso(case.received_at, tz), "deadline": iso(case.deadline_at, tz),
        "deadline_days": case.deadline_days, "deadline_error": case.deadline_error,
        "external_id": case.external_id,
        "classification": {"confidence": round(case.confidence, 3), "matched": case.matched,
                           "needs_review": case.needs_review, "source": case.classified_by,
                           "secondary_kind": case.secondary_kind},
        "assignee": assignee, "answered_at": iso(case.answered_at, tz), "closed_at": iso(case.closed_at, tz),
        "merged_into": case.merged_into_id, "version": case.version,
        "extended_days": case.extended_days, "reopened": case.reopened, "rating": case.rating, "urged": case.urged,
        "returned": {"at": iso(case.returned_at, tz), "reason": case.return_reason, "basis": case.return_basis}
        if case.returned_at else None,
        "return_requested": {"at": iso(case.return_requested_at, tz), "reason": case.return_reason,
                             "basis": case.return_basis} if case.return_requested_at else None,
        "accepted_at": iso(case.accepted_at, tz), "cancelled_at": iso(case.cancelled_at, tz),
        "created_at": iso(case.created_at, tz), "updated_at": iso(case.updated_at, tz),
    }
    if contact is not None:
        out["contact"] = {
            "name": contact.name,
            "phone": contact.phone if unmask else mask_phone(contact.phone),
            "applicant_type": contact.applicant_type,
        }
    return out


async def create_case(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    data = await read_json(request)
    channel = data.get("channel")
    if channel not in CHANNELS:
        raise InvalidInput(f"channel 必须是 {', '.join(CHANNELS)} 之一", "channel")
    contact = data.get("contact") or {}
    if not isinstance(contact, dict):
        raise InvalidInput("contact 必须是对象", "contact")
    entry = ManualEntry(
        channel=channel, received_at=parse_time(data.get("received_at"), "received_at", rt.settings.tz),
        text=str_field(data, "text", required=True), title=str_field(data, "title", max_len=300),
        external_id=str_field(data, "external_id", max_len=64),
        contact_name=str_field(contact, "name", max_len=200), contact_phone=str_field(contact, "phone", max_len=32),
        applicant_type=contact.get("applicant_type"), kind=data.get("kind"), raw=data,
    )
    detail, duplicate = await cases.enter(rt, request[ACTOR], entry)
    body = case_json(detail.case, rt.settings.tz, contact=detail.contact)
    # The 查询码 for the receipt (letters, visits, the web), this once; null
    # on other channels and for a duplicate (POST …/tracking-code gives a new one).
    body["tracking_code"] = detail.tracking_code
    if duplicate:
        body["duplicate"] = True
    return json_ok(body, 200 if duplicate else 201)


async def list_cases(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    status = choice_param(request, "status", STATUSES)
    selection = CaseFilter(
        year=int_param(request, "year", lo=1990, hi=2100), channel=choice_param(request, "channel", CHANNELS),
        kind=choice_param(request, "kind", KINDS), topic=choice_param(request, "topic", TOPICS),
        statuses=(status,) if status else (),
    )
    page = await cases.list_cases(rt, selection, request.query.get("q"),
                                  limit=int_param(request, "limit", lo=1, hi=MAX_LIMIT, default=DEFAULT_LIMIT),
                                  before_id=decode_cursor(request.query.get("cursor")))
    tz = rt.settings.tz
    return json_ok({"items": [case_json(c, tz, assignee=name) for c, name in page.items], "total": page.total,
                    "next": encode_cursor(page.next_before) if page.next_before else None})


async def get_case(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    unmask = request.query.get("unmask") in ("1", "true")
    detail = await cases.get(rt, request[ACTOR], path_id(request), unmask=unmask)
    tz = rt.settings.tz
    body = case_json(detail.case, tz, contact=detail.contact, assignee=detail.assignee, unmask=unmask)
    body["messages"] = [
        {"id": m.id, "direction": m.direction, "msg_type": m.msg_type,
         "text": m.text if unmask else mask_text(m.text or ""), "status": m.status, "error": m.error,
         "at": iso(m.created_at, tz)}
        for m in detail.messages
    ]
    return json_ok(body)


async def patch_case(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    data = await read_json(request)
    expected = _version(data)
    data.pop("version", None)
    detail = await cases.update(rt, request[ACTOR], path_id(request), data, expected_version=expected)
    return json_ok(case_json(detail.case, rt.settings.tz, assignee=detail.assignee))


async def post_reply(request: web.Request) -> web.Response:
    """``{"text", "type"?, "delivered_by"?}``: type final (the default), interim or request_info."""
    rt = request.app[RUNTIME]
    data = await read_json(request)
    text = str_field(data, "text", required=True, max_len=5000)
    reply_type = data.get("type", ReplyType.FINAL)
    if reply_type not in REPLY_TYPES:
        raise InvalidInput(f"type 必须是 {'、'.join(REPLY_TYPES)} 之一", "type")
    case_id = path_id(request)
    message = await cases.reply(rt, request[ACTOR], case_id, text, reply_type=reply_type,
                                delivered_by=str_field(data, "delivered_by", max_len=50))
    return json_ok({"id": message.id, "case_id": case_id, "status": message.status, "text": message.text,
                    "type": reply_type}, 201)


def _version(data: dict) -> int | None:
    expected = data.get("version")
    if expected is not None and (not isinstance(expected, int) or isinstance(expected, bool)):
        raise InvalidInput("version 必须是整数", "version")
    return expected


async def post_extension(request: web.Request) -> web.Response:
    """``{"working_days", "reason", "approved_by"?}``: 延期, before the deadline."""
    rt = request.app[RUNTIME]
    data = await read_json(request)
    outcome = await lifecycle.request_extension(rt, request[ACTOR], path_id(request), data.get("working_days"),
                                                data.get("reason"), approved_by=data.get("approved_by"),
                                                expected_version=_version(data))
    return json_ok({**case_json(outcome.case, rt.settings.tz), "extension": extension_json(outcome.extension,
                                                                                           rt.settings.tz)})


async def post_extension_decision(request: web.Request) -> web.Response:
    """``{"approved": true|false, "note"?}``: an admin decides a pending extension."""
    rt = request.app[RUNTIME]
    data = await read_json(request)
    outcome = await lifecycle.decide_extension(rt, request[ACTOR], path_id(request), data.get("approved"),
                                               note=data.get("note") if isinstance(data.get("note"), str) else None)
    return json_ok({**case_json(outcome.case, rt.settings.tz), "extension": extension_json(outcome.extension,
                                                                                           rt.settings.tz)})


def extension_json(e, tz) -> dict:
    return {"id": e.id, "working_days": e.working_days, "reason": e.reason, "status": e.status,
            "requested_by": e.requested_by, "approved_by": e.approved_by, "requested_at": iso(e.requested_at, tz),
            "decided_at": iso(e.decided_at, tz), "new_deadline": iso(e.new_deadline, tz)}


async def post_return(request: web.Request) -> web.Response:
    """``{"reason", "basis"}``: 退回, not this office's remit."""
    rt = request.app[RUNTIME]
    data = await read_json(request)
    case = await lifecycle.give_back(rt, request[ACTOR], path_id(request), data.get("reason"), data.get("basis"),
                                     expected_version=_version(data))
    return json_ok(case_json(case, rt.settings.tz))


async def post_rating(request: web.Request) -> web.Response:
    """``{"score": 1..5, "source": "citizen"|"staff"|"platform", "comment"?}``."""
    rt = request.app[RUNTIME]
    data = await read_json(request)
    result = await lifecycle.rate(rt, request[ACTOR], path_id(request), data.get("score"),
                                  data.get("source", RatingSource.STAFF), data.get("comment"))
    return json_ok({**case_json(result.case, rt.settings.tz),
                    "rating_result": {"id": result.rating.id, "score": result.rating.score,
                                      "reopened": result.outcome.reopened, "supervised": result.outcome.supervised}})


async def post_tracking_code(request: web.Request) -> web.Response:
    """A new 查询码 for the citizen (the old one stops working): shown this once."""
    code = await tracking.issue_code(request.app[RUNTIME], request[ACTOR], path_id(request))
    return json_ok({"tracking_code": code}, 201)


async def post_accept(request: web.Request) -> web.Response:
    """签收 of a 12345 order (when it is not signed for on receipt)."""
    rt = request.app[RUNTIME]
    case = await lifecycle.accept(rt, request[ACTOR], path_id(request))
    return json_ok(case_json(case, rt.settings.tz))


async def post_urge(request: web.Request) -> web.Response:
    """``{"level": "催办"|"督办", "note"?}``."""
    rt = request.app[RUNTIME]
    data = await read_json(request)
    case = await lifecycle.urge(rt, request[ACTOR], path_id(request), data.get("level"), data.get("note"))
    return json_ok(case_json(case, rt.settings.tz))
