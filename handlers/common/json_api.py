"""The JSON API's conventions (/api/v1, and the 12345 push): strict JSON in,
``{"error": {"code", "message", "field"?}}`` with a 4xx status out, Bearer
tokens, query parameters, cursors, times."""

from __future__ import annotations

import base64
import functools
import json
from datetime import datetime
from zoneinfo import ZoneInfo

from aiohttp import web

from bot.domain.errors import DomainError, Forbidden, InvalidInput
from bot.domain.text import first_unstorable, fits_int64
from bot.services import accounts

from .errors import status_of, status_text
from .keys import ACTOR, RUNTIME

MAX_LIMIT, DEFAULT_LIMIT = 500, 50


def _dumps(obj) -> str:
    return json.dumps(obj, ensure_ascii=False)


def json_ok(data, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=_dumps)


def error_response(status: int, code: str, message: str, field: str | None = None, *,
                   headers: dict | None = None) -> web.Response:
    body = {"code": code, "message": message}
    if field:
        body["field"] = field
    return web.json_response({"error": body}, status=status, dumps=_dumps, headers=headers)


def _kept_headers(exc: web.HTTPException) -> dict:
    """What an aiohttp error says beside its body (Allow on a 405, Retry-After)."""
    return {k: v for k, v in exc.headers.items() if k in ("Allow", "Retry-After", "WWW-Authenticate")}


def domain_error_response(exc: DomainError) -> web.Response:
    return error_response(status_of(exc), exc.code, exc.message, exc.field)


@web.middleware
async def api_middleware(request: web.Request, handler):
    """Bearer authentication and JSON errors for everything under /api/."""
    if not request.path.startswith("/api/"):
        return await handler(request)
    rt = request.app[RUNTIME]
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return error_response(401, "unauthorized", "需要 Authorization: Bearer 令牌")
    if not token.isascii() or not token.isprintable() or len(token) > 256:
        # Our tokens are short URL-safe ASCII; header bytes that are not
        # (decoded with surrogates by aiohttp) can be no token of ours.
        return error_response(401, "unauthorized", "令牌无效或已撤销")
    use = await accounts.actor_of_token(rt, token)
    if use is None:
        return error_response(401, "unauthorized", "令牌无效或已撤销")
    request[ACTOR] = use.actor
    try:
        response = await handler(request)
    except DomainError as exc:
        return domain_error_response(exc)
    except web.HTTPException as exc:
        if exc.status >= 400:
            code, message = status_text(exc.status)
            return error_response(exc.status, code, message, headers=_kept_headers(exc))
        raise
    if response.status < 400:
        await accounts.note_token_use(rt, use)
    return response


def admin_only(message: str):
    """For API calls only admins may make: others get 403 before their body
    is read (the service checks again; this makes the refusal come first)."""

    def wrap(handler):
        @functools.wraps(handler)
        async def wrapper(request: web.Request):
            if not request[ACTOR].is_admin:
                raise Forbidden(message)
            return await handler(request)

        return wrapper

    return wrap


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


async def read_json(request: web.Request) -> dict:
    try:
        data = await request.json(loads=strict_loads)
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError, RecursionError):
        raise InvalidInput("请求体不是有效的 JSON", code="invalid_json") from None
    except LookupError:  # Content-Type: application/json; charset=<unknown>
        raise InvalidInput("请求体的字符集无法识别，请使用 UTF-8", code="invalid_json") from None
    if not isinstance(data, dict):
        raise InvalidInput("请求体必须是 JSON 对象", code="invalid_json")
    refuse_unstorable(data)
    return data


def refuse_unstorable(data: object) -> None:
    """A NUL, a lone surrogate or an integer past 64 bits anywhere in the
    body: refused naming the field, on both databases alike (bot/domain/text.py)."""
    found = first_unstorable(data)
    if found is not None:
        field, reason = found
        raise InvalidInput(f"{field} {reason}", field)


async def read_json_or_empty(request: web.Request) -> dict:
    # body_exists, not can_read_body: the error middleware has read the body
    # already (kept by aiohttp), so the stream is at its end.
    return await read_json(request) if request.body_exists and await request.read() else {}


def str_field(data: dict, name: str, *, required: bool = False, max_len: int = 20000, label: str | None = None) -> str | None:
    """A string field, stripped; None when absent or empty (unless required)."""
    label = label or name
    value = data.get(name)
    if value is None:
        if required:
            raise InvalidInput(f"缺少字段 {label}", label, "missing")
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{label} 必须是字符串", label)
    value = value.strip()
    if required and not value:
        raise InvalidInput(f"{label} 不能为空", label, "missing")
    if len(value) > max_len:
        raise InvalidInput(f"{label} 过长（最多 {max_len} 字）", label)
    return value or None


def int_param(request: web.Request, name: str, *, lo: int, hi: int, default: int | None = None) -> int | None:
    raw = request.query.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:  # includes a number of more than 4300 digits
        raise InvalidInput(f"{name} 必须是整数", name) from None
    if not lo <= value <= hi:
        raise InvalidInput(f"{name} 必须在 {lo} 到 {hi} 之间", name)
    return value


def choice_param(request: web.Request, name: str, choices) -> str | None:
    value = request.query.get(name) or None
    if value is not None and value not in choices:
        raise InvalidInput(f"{name} 必须是 {', '.join(choices)} 之一", name)
    return value


def decode_cursor(raw: str | None) -> int | None:
    if not raw:
        return None
    try:
        value = int(base64.urlsafe_b64decode(raw.encode() + b"==").decode())
    except (ValueError, UnicodeError):  # UnicodeEncodeError: a cursor of non-ASCII characters
        raise InvalidInput("cursor 无效", "cursor") from None
    if not fits_int64(value):
        raise InvalidInput("cursor 无效", "cursor")
    return value


def encode_cursor(value: int) -> str:
    return base64.urlsafe_b64encode(str(value).encode()).decode().rstrip("=")


def iso(moment: datetime | None, tz: ZoneInfo) -> str | None:
    return moment.astimezone(tz).isoformat() if moment else None
