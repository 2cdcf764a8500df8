"""The outermost guard of every request (after the metrics): hostile input
is refused before any handler sees it, the body is read under a deadline,
every error a person can meet is answered in Chinese, and a failure is
logged on one line (its traceback at most once a minute per kind).

- Refused first, with a 4xx naming the field: a NUL (or a lone surrogate)
  in a query parameter, a path segment or a form field (bot/domain/text.py:
  the same rule on SQLite and PostgreSQL; the JSON API checks its bodies in
  json_api.read_json, the 12345 push each order alone); a charset nobody
  knows (415); a body that can't be inflated (a gzip of thousands of empty
  members: 400); a body that arrives slower than ``body_timeout_seconds``
  (408, and the connection is closed). Slow headers are aiohttp's
  keep-alive timer (``header_timeout_seconds``, set by the assembly).
- Errors: aiohttp's own (404, 405, 413: "404: Not Found") become a Chinese
  JSON error under /api/ and /hotline/ (``{"error": {"code", "message"}}``,
  the code kept) and a Chinese page elsewhere; an error nobody caught is a
  500 (503 while the database is away) said the same way, never a
  traceback to the client.
"""

from __future__ import annotations

import asyncio
import codecs
import html
import logging

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError

from bot.domain.errors import DomainError
from bot.domain.text import unstorable_text
from bot.services import ops

from .errors import status_of, status_text
from .json_api import error_response as json_error
from .keys import RUNTIME

log = logging.getLogger("intake.http")

JSON_PREFIXES = ("/api/", "/hotline/")
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
# The citizens' pages check their own input and answer in their own frame:
# /track gives odd input the very 404 an unknown number gets (no oracle),
# the letter box re-shows the form with what to fix (a letter too long, a
# control character). Their body deadline is the whole request's.
OWN_INPUT_CHECKS = ("/track", "/letters")


class Refused(Exception):
    """A request refused before its handler: status, message, field."""

    def __init__(self, status: int, message: str | None = None, field: str | None = None, code: str | None = None):
        super().__init__(message)
        self.status = status
        default_code, default_message = status_text(status)
        self.message = message or default_message
        self.field = field
        self.code = code or default_code


def error_page(status: int, message: str) -> str:
    """A page in Chinese for an error outside the staff frame (the staff
    pages render their own, handlers/common/render.py: page_errors)."""
    text = html.escape(message)
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{status} · {text}</title>"
        "<style>body{font-family:system-ui,'PingFang SC','Microsoft YaHei',sans-serif;max-width:36rem;"
        "margin:4rem auto;padding:0 1rem;color:#1f2933}h1{font-size:1.3rem}p{line-height:1.6}"
        "a{color:#1d4ed8}</style></head><body>"
        f"<h1>{text}</h1><p>错误代码：{status}</p><p><a href=\"/\">返回首页</a></p></body></html>"
    )


def error_response(request: web.Request, status: int, message: str | None = None, *, code: str | None = None,
                   field: str | None = None, headers: dict | None = None) -> web.Response:
    """The error in the form the asker reads: JSON for the API and the
    12345 platform, plain text for WeChat's server, a page for people."""
    default_code, default_message = status_text(status)
    message = message or default_message
    if request.path.startswith(JSON_PREFIXES):
        return json_error(status, code or default_code, message, field, headers=headers)
    if request.path == "/wechat":
        return web.Response(status=status, text=message, headers=headers)
    return web.Response(status=status, text=error_page(status, message), content_type="text/html",
                        charset="utf-8", headers=headers)


def _kept_headers(exc: web.HTTPException) -> dict:
    return {k: v for k, v in exc.headers.items() if k in ("Allow", "Retry-After", "WWW-Authenticate")}


@web.middleware
async def error_middleware(request: web.Request, handler):
    rt = request.app[RUNTIME]
    deadline = rt.settings.body_timeout_seconds
    try:
        if not request.path.startswith(OWN_INPUT_CHECKS):
            await _refuse_hostile(request, deadline)
            response = await handler(request)
        elif request.can_read_body:
            try:
                async with asyncio.timeout(deadline):
                    response = await handler(request)
            except TimeoutError:
                raise Refused(408) from None
        else:
            response = await handler(request)
    except Refused as exc:
        response = error_response(request, exc.status, exc.message, code=exc.code, field=exc.field)
        if exc.status == 408:  # the rest of the body is not waited for (nor lingered on): answer and close
            request.content.feed_eof()
            response.force_close()
        return response
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if exc.content_type != "text/plain":  # a page or JSON of ours already
            raise
        return error_response(request, exc.status, headers=_kept_headers(exc))
    except DomainError as exc:  # a refusal on a route no other middleware renders
        return error_response(request, status_of(exc), exc.message, code=exc.code, field=exc.field)
    except (RequestPayloadError, HttpProcessingError):  # a body that can't be inflated or is cut short
        # The rest of the body is not read (aiohttp would try, meet the same
        # error again and log it as unhandled): answer, then close.
        request.content.feed_eof()
        response = error_response(request, 400, "请求体无法解码（压缩或分块格式错误）", code="bad_body")
        response.force_close()
        return response
    except ConnectionResetError:  # the client went away mid-request: nothing to answer
        log.info("%s %s: the client closed the connection", request.method, request.path)
        raise
    except Exception as exc:
        outage = ops.is_outage(exc)
        status = 503 if outage else 500
        rt.failures.failed(exc, "%s %s failed: %d", request.method, request.path, status)
        return error_response(request, status, headers={"Retry-After": "5"} if outage else None)
    return response


async def _refuse_hostile(request: web.Request, body_timeout: float) -> None:
    """Refuse (raise Refused) what no handler should see; read the body
    under the deadline so a handler never waits on a slow client."""
    for name, value in request.match_info.items():
        if unstorable_text(value):
            raise Refused(400, f"路径中的 {name} 含有无法处理的字符", name, "invalid")
    for name, value in request.query.items():
        if unstorable_text(name) or unstorable_text(value):
            raise Refused(400, f"参数 {_printable(name)} 含有无法处理的字符（如 NUL 空字符）", _printable(name), "invalid")
    charset = request.charset
    if charset:
        try:
            codecs.lookup(charset)
        except LookupError:
            raise Refused(415, f"无法识别的字符集 {_printable(charset)[:40]}，请使用 UTF-8") from None
    if not request.can_read_body:
        return
    form = request.method == "POST" and request.content_type in FORM_TYPES
    try:
        async with asyncio.timeout(body_timeout):
            if form:
                fields = await request.post()
            else:
                await request.read()  # kept by aiohttp: the handler's read()/json()/post() take it from there
                return
    except TimeoutError:
        log.info("%s %s: body not received within %ss; connection closed", request.method, request.path, body_timeout)
        raise Refused(408) from None
    except (ValueError, UnicodeDecodeError):  # a malformed multipart or urlencoded body
        raise Refused(400, "表单格式错误") from None
    for name, value in fields.items():
        if unstorable_text(name) or (isinstance(value, str) and unstorable_text(value)):
            raise Refused(400, f"表单字段 {_printable(name)} 含有无法处理的字符（如 NUL 空字符）", _printable(name),
                          "invalid")


def _printable(text: str) -> str:
    return "".join(ch if ch.isprintable() else "?" for ch in text.encode("utf-8", "replace").decode("utf-8"))
