"""The staff JSON API (/api/v1), Bearer tokens. Thin: parse and validate the
request, call the domain, serialise the answer."""

from __future__ import annotations

import base64
import json
import secrets
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy import select

from bot.cases import APPLICANT_TYPES, CHANNELS, STATUSES, InboundMessage, mask_phone, mask_text
from bot.casework import Actor, CaseError, StaleCase, add_reply, update_case
from bot.intake import record_with_retry
from bot.security import token_hash
from bot.services import SERVICES
from nlp.base import KINDS, TOPICS
from storage import queries
from storage.models import Case, Contact, User


ACTOR = web.RequestKey("actor", Actor)
MAX_LIMIT, DEFAULT_LIMIT = 500, 50


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None):
        self.status, self.code, self.message, self.field = status, code, message, field


def error_response(status: int, code: str, message: str, field: str | None = None) -> web.Response:
    body = {"code": code, "message": message}
    if field:
        body["field"] = field
    return web.json_response({"error": body}, status=status, dumps=_dumps)


def _dumps(obj) -> str:
    return json.dumps(obj, ensure_ascii=False)


def json_ok(data, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=_dumps)


@web.middleware
async def api_middleware(request: web.Request, handler):
    """Bearer authentication and JSON errors for everything under /api/."""
    if not request.path.startswith("/api/"):
        return await handler(request)
    services = request.app[SERVICES]
    auth = request.headers.get("Authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return error_response(401, "unauthorized", "需要 Authorization: Bearer 令牌")
    async with services.read_sessions() as session:
        found = await queries.user_by_token_hash(session, token_hash(token.strip()))
    if found is None:
        return error_response(401, "unauthorized", "令牌无效或已撤销")
    user, api_token = found
    request[ACTOR] = Actor(user, f"token:{api_token.name}")
    try:
        response = await handler(request)
        await _note_token_use(services, api_token, response.status)
        return response
    except ApiError as exc:
        return error_response(exc.status, exc.code, exc.message, exc.field)
    except StaleCase as exc:
        return error_response(409, exc.code, str(exc), exc.field)
    except CaseError as exc:
        return error_response(400, exc.code, str(exc), exc.field)
    except web.HTTPException as exc:
        if exc.status >= 400:
            return error_response(exc.status, "http_error", exc.reason)
        raise


def reject_json_constant(name: str):
    """NaN and Infinity are not JSON (Python's parser accepts them)."""
    raise ValueError(f"{name} is not valid JSON")


def strict_loads(text: str | bytes):
    """JSON without NaN/Infinity and without lone surrogates ("\\ud800" is
    valid JSON but not Unicode: no database or segmenter can take it)."""
    data = json.loads(text, parse_constant=reject_json_constant)
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text holds a lone surrogate (not valid Unicode)") from None
    return data


TOKEN_USE_RESOLUTION = timedelta(minutes=1)


async def _note_token_use(services, api_token, status: int) -> None:
    """When a token was last used, to the minute, and only for requests that
    succeeded: a refused request changes nothing."""
    now = datetime.now(timezone.utc)
    if status >= 400 or (api_token.last_used_at and now - api_token.last_used_at < TOKEN_USE_RESOLUTION):
        return
    async with services.sessions() as session:
        await queries.touch_token(session, api_token.id, now)
        await session.commit()


async def read_json(request: web.Request) -> dict:
    try:
        data = await request.json(loads=strict_loads)
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
        raise ApiError(400, "invalid_json", "请求体不是有效的 JSON") from None
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", "请求体必须是 JSON 对象")
    return data


def parse_time(value, field: str, tz: ZoneInfo) -> datetime:
    """ISO 8601; a time without offset is in the office's time zone."""
    if not isinstance(value, str) or not value.strip():
        raise ApiError(400, "invalid", f"{field} 必须是 ISO 8601 时间，例如 2020-03-15T09:21:00+08:00", field)
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(400, "invalid", f"{field} 不是有效的时间：{value!r}", field) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    if not 1990 <= moment.year <= 2100:
        raise ApiError(400, "invalid", f"{field} 年份不合理：{value!r}", field)
    return moment.astimezone(timezone.utc)


def _iso(moment: datetime | None, tz: ZoneInfo) -> str | None:
    return moment.astimezone(tz).isoformat() if moment else None


def case_json(case: Case, tz: ZoneInfo, *, contact: Contact | None = None, assignee: str | None = None,
              unmask: bool = False) -> dict:
    show = (lambda t: t) if unmask else (lambda t: mask_text(t) if t else t)
    out = {
        "id": case.id, "number": case.number, "channel": case.channel, "kind": case.kind, "topic": case.topic,
        "status": case.status, "title": show(case.title), "text": show(case.text),
        "received_at": _iso(case.received_at, tz), "deadline": _iso(case.deadline_at, tz),
        "deadline_days": case.deadline_days, "deadline_error": case.deadline_error,
        "external_id": case.external_id,
        "classification": {"confidence": round(case.confidence, 3), "matched": case.matched,
                           "needs_review": case.needs_review, "source": case.classified_by},
        "assignee": assignee, "answered_at": _iso(case.answered_at, tz), "closed_at": _iso(case.closed_at, tz),
        "merged_into": case.merged_into_id, "version": case.version,
        "created_at": _iso(case.created_at, tz), "updated_at": _iso(case.updated_at, tz),
    }
    if contact is not None:
        out["contact"] = {
            "name": contact.name,
            "phone": contact.phone if unmask else mask_phone(contact.phone),
            "applicant_type": contact.applicant_type,
        }
    return out


def _str_field(data: dict, name: str, *, required: bool = False, max_len: int = 20000) -> str | None:
    value = data.get(name)
    if value is None:
        if required:
            raise ApiError(400, "missing", f"缺少字段 {name}", name)
        return None
    if not isinstance(value, str):
        raise ApiError(400, "invalid", f"{name} 必须是字符串", name)
    value = value.strip()
    if required and not value:
        raise ApiError(400, "missing", f"{name} 不能为空", name)
    if len(value) > max_len:
        raise ApiError(400, "invalid", f"{name} 过长（最多 {max_len} 字）", name)
    return value or None


async def create_case(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    tz = services.settings.tz
    data = await read_json(request)
    channel = data.get("channel")
    if channel not in CHANNELS:
        raise ApiError(400, "invalid", f"channel 必须是 {', '.join(CHANNELS)} 之一", "channel")
    received_at = parse_time(data.get("received_at"), "received_at", tz)
    if (received_at - datetime.now(timezone.utc)).total_seconds() > 300:
        raise ApiError(400, "invalid", "received_at 不能晚于当前时间", "received_at")
    text = _str_field(data, "text", required=True)
    title = _str_field(data, "title", max_len=300)
    external_id = _str_field(data, "external_id", max_len=64)
    contact = data.get("contact") or {}
    if not isinstance(contact, dict):
        raise ApiError(400, "invalid", "contact 必须是对象", "contact")
    name = _str_field(contact, "name", max_len=200)
    phone = _str_field(contact, "phone", max_len=32)
    applicant_type = contact.get("applicant_type")
    if applicant_type is not None and applicant_type not in APPLICANT_TYPES:
        raise ApiError(400, "invalid", f"applicant_type 必须是 {', '.join(APPLICANT_TYPES)} 之一", "contact.applicant_type")
    kind = data.get("kind")
    if kind is not None and kind not in KINDS:
        raise ApiError(400, "invalid", f"kind 必须是 {', '.join(KINDS)} 之一", "kind")
    classification = services.classifier.classify(text, hint_kind=kind)
    identity = phone or (f"name:{name}" if name else f"anon:{secrets.token_hex(8)}")
    item = InboundMessage(
        channel=channel, identity=identity, received_at=received_at, text=text, classification=classification,
        external_id=external_id, raw=json.dumps(data, ensure_ascii=False), contact_name=name,
        contact_phone=phone, applicant_type=applicant_type, title=title,
    )
    (result,) = await record_with_retry(services.engine, [item], services.intake_context())
    async with services.sessions() as session:
        case = await session.get(Case, result.case_id)
        body = case_json(case, tz, contact=await session.get(Contact, case.contact_id) if case.contact_id else None)
        if result.duplicate:
            body["duplicate"] = True
        await queries.add_audit(session, request[ACTOR].label, "case.entered" if result.created else "case.entry_duplicate",
                                case.id, channel=channel)
        await session.commit()
    return json_ok(body, 200 if result.duplicate else 201)


def _int_param(request: web.Request, name: str, *, lo: int, hi: int, default: int | None = None) -> int | None:
    raw = request.query.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, "invalid", f"{name} 必须是整数", name) from None
    if not lo <= value <= hi:
        raise ApiError(400, "invalid", f"{name} 必须在 {lo} 到 {hi} 之间", name)
    return value


def _choice_param(request: web.Request, name: str, choices) -> str | None:
    value = request.query.get(name) or None
    if value is not None and value not in choices:
        raise ApiError(400, "invalid", f"{name} 必须是 {', '.join(choices)} 之一", name)
    return value


def _decode_cursor(raw: str | None) -> int | None:
    if not raw:
        return None
    try:
        return int(base64.urlsafe_b64decode(raw.encode() + b"==").decode())
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "invalid", "cursor 无效", "cursor") from None


def _encode_cursor(case_id: int) -> str:
    return base64.urlsafe_b64encode(str(case_id).encode()).decode().rstrip("=")


async def list_cases(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    tz = services.settings.tz
    stmt = queries.cases_query(
        year=_int_param(request, "year", lo=1990, hi=2100),
        channel=_choice_param(request, "channel", CHANNELS),
        kind=_choice_param(request, "kind", KINDS),
        topic=_choice_param(request, "topic", TOPICS),
        status=_choice_param(request, "status", STATUSES),
        q=(request.query.get("q") or "").strip() or None,
    )
    limit = _int_param(request, "limit", lo=1, hi=MAX_LIMIT, default=DEFAULT_LIMIT)
    after = _decode_cursor(request.query.get("cursor"))
    async with services.read_sessions() as session:
        total = await queries.count(session, stmt)
        page = stmt.order_by(Case.id.desc()).limit(limit + 1)
        if after is not None:
            page = page.where(Case.id < after)
        cases = (await session.execute(page)).scalars().all()
        more = len(cases) > limit
        cases = cases[:limit]
        names = await _usernames(session, {c.assignee_id for c in cases if c.assignee_id})
    items = [case_json(c, tz, assignee=names.get(c.assignee_id)) for c in cases]
    return json_ok({"items": items, "total": total, "next": _encode_cursor(cases[-1].id) if more else None})


async def _usernames(session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return dict((await session.execute(select(User.id, User.username).where(User.id.in_(ids)))).all())


async def _load_case(session, request: web.Request, *, for_update: bool = False) -> Case:
    try:
        case_id = int(request.match_info["case_id"])
    except ValueError:
        raise ApiError(404, "not_found", "没有这个案件") from None
    # For an edit, lock the row (PostgreSQL; SQLite's BEGIN IMMEDIATE already
    # serialises writers), so the version check can't lose a concurrent edit.
    case = await session.get(Case, case_id, with_for_update=for_update)
    if case is None:
        raise ApiError(404, "not_found", "没有这个案件")
    return case


async def get_case(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    tz = services.settings.tz
    unmask = request.query.get("unmask") in ("1", "true")
    async with services.read_sessions() as session:
        case = await _load_case(session, request)
        contact = await session.get(Contact, case.contact_id) if case.contact_id else None
        names = await _usernames(session, {case.assignee_id} if case.assignee_id else set())
        body = case_json(case, tz, contact=contact, assignee=names.get(case.assignee_id), unmask=unmask)
        body["messages"] = [
            {"id": m.id, "direction": m.direction, "msg_type": m.msg_type,
             "text": m.text if unmask else mask_text(m.text or ""), "status": m.status,
             "error": m.error, "at": _iso(m.created_at, tz)}
            for m in await queries.case_messages(session, case.id)
        ]
    if unmask:
        # Seeing a citizen's full numbers is a recorded act.
        async with services.sessions() as session:
            await queries.add_audit(session, request[ACTOR].label, "contact.unmasked", case.id)
            await session.commit()
    return json_ok(body)


async def patch_case(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    data = await read_json(request)
    expected = data.pop("version", None)
    if expected is not None and not isinstance(expected, int):
        raise ApiError(400, "invalid", "version 必须是整数", "version")
    async with services.sessions() as session:
        case = await _load_case(session, request, for_update=True)
        await update_case(session, case, data, request[ACTOR], expected_version=expected,
                          calendar=services.calendar, tz=services.settings.tz, settings=services.settings)
        await session.commit()
        names = await _usernames(session, {case.assignee_id} if case.assignee_id else set())
        return json_ok(case_json(case, services.settings.tz, assignee=names.get(case.assignee_id)))


async def post_reply(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    data = await read_json(request)
    text = _str_field(data, "text", required=True, max_len=5000)
    delivered_by = _str_field(data, "delivered_by", max_len=50)
    async with services.sessions() as session:
        case = await _load_case(session, request, for_update=True)
        message = await add_reply(session, case, text, request[ACTOR], delivered_by=delivered_by,
                                  calendar=services.calendar, tz=services.settings.tz)
        await session.commit()
        return json_ok({"id": message.id, "case_id": case.id, "status": message.status, "text": message.text}, 201)


def setup(app: web.Application) -> None:
    app.middlewares.append(api_middleware)
    app.router.add_post("/api/v1/cases", create_case)
    app.router.add_get("/api/v1/cases", list_cases)
    app.router.add_get("/api/v1/cases/{case_id}", get_case)
    app.router.add_patch("/api/v1/cases/{case_id}", patch_case)
    app.router.add_post("/api/v1/cases/{case_id}/replies", post_reply)
