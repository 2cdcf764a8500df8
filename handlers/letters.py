"""The web letter box (网上信箱), public: the form (/letters/new), sending a
letter (POST /letters → 303 → /letters/done, the number and 查询码 shown
once), and the published letters (/letters). Works without JavaScript."""

from __future__ import annotations

import logging
from pathlib import Path

from aiohttp import web

from bot.domain.errors import DomainError
from bot.domain.letters import CONTENT_MAX, NAME_MAX, TITLE_MAX
from bot.services import letters

from .common.keys import RUNTIME
from .common.public_forms import finish, forget_once, form_token, form_token_valid, issue_once, read_once
from .common.render import render
from .common.staff import client_address, redirect

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static" / "public"
RECEIPT_COOKIE = "intake_letter_receipt"
RECEIPT_PATH = "/letters/done"
RECEIPT_SECONDS = 600  # the confirmation page must follow the letter within this
FIELDS = ("name", "phone", "title", "content")
HONEYPOT = "website"  # hidden from people by CSS; only a robot fills it
MAX_PAGE = 10_000
LIMITS = {"name_max": NAME_MAX, "title_max": TITLE_MAX, "content_max": CONTENT_MAX}


def _page(request: web.Request, template: str, status: int = 200, **context) -> web.StreamResponse:
    return finish(request, render(request, template, status=status, **context))


def _message(request: web.Request, status: int, title: str, message: str, **extra) -> web.StreamResponse:
    return _page(request, "letters_message.html", status=status, heading=title, message=message, **extra)


def _form(request: web.Request, *, status: int = 200, values: dict | None = None, error: str | None = None,
          field: str | None = None) -> web.StreamResponse:
    return _page(request, "letters_new.html", status=status, form_token=form_token(request), values=values or {},
                 error=error, error_field=field, **LIMITS)


async def letter_form(request: web.Request) -> web.StreamResponse:
    return _form(request)


async def letter_submit(request: web.Request) -> web.StreamResponse:
    try:
        form = await request.post()
    except web.HTTPRequestEntityTooLarge:
        return _form(request, status=413, error=f"提交的内容过长，信件内容最多 {CONTENT_MAX} 个字，请精简后重新填写。")
    except ValueError:  # a body no browser sends (malformed form encoding)
        return _message(request, 400, "提交未成功", "无法读取提交的表单，请返回信箱页面重新填写。")
    if not form_token_valid(request, form.get("csrf_token")):
        log.warning("letter box: CSRF token missing or wrong from %s", client_address(request))
        return _message(request, 403, "提交未成功",
                        "表单已过期或缺少安全校验，信件没有提交。请重新打开写信页面填写后提交。")
    if form.get(HONEYPOT):
        # Only a robot fills the hidden field: nothing is stored or counted.
        # A plain refusal, not a fake receipt, so that a person whose browser
        # filled it by mistake learns the letter did not go.
        log.info("letter box: honeypot filled from %s", client_address(request))
        return _message(request, 400, "提交未成功", "信件没有提交：表单中不应填写的“网址”一栏有内容。请重新打开写信页面填写后提交。")
    values = {name: form.get(name) if isinstance(form.get(name), str) else "" for name in FIELDS}
    try:
        receipt = await letters.submit(request.app[RUNTIME], **values, publish=form.get("publish"),
                                       address=client_address(request))
    except letters.TooManyLetters as exc:
        response = _message(request, 429, "提交过于频繁", exc.message)
        response.headers["Retry-After"] = str(request.app[RUNTIME].settings.letters_window_minutes * 60)
        return response
    except DomainError as exc:
        return _form(request, status=400, values={**values, "publish": bool(form.get("publish"))},
                     error=exc.message, field=exc.field)
    response = redirect(RECEIPT_PATH)
    issue_once(request, response, RECEIPT_COOKIE, RECEIPT_PATH,
               {"number": receipt.number, "code": receipt.code, "text": receipt.text}, RECEIPT_SECONDS)
    return finish(request, response)


async def letter_done(request: web.Request) -> web.StreamResponse:
    receipt = read_once(request, RECEIPT_COOKIE, RECEIPT_SECONDS)
    if receipt is None:
        response = _message(request, 404, "回执已显示过",
                            "受理编号和查询码只在提交后显示一次。如果没有记下，请致电我们，核实身份后可重新获取查询码。")
    else:
        response = _page(request, "letters_done.html", number=str(receipt.get("number", "")),
                         code=str(receipt.get("code", "")), receipt_text=str(receipt.get("text", "")))
    forget_once(request, response, RECEIPT_COOKIE, RECEIPT_PATH)
    return response


async def letter_list(request: web.Request) -> web.StreamResponse:
    raw = request.query.get("page", "1")
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        return _message(request, 400, "页码无效", "页码须为 1 到 10000 之间的整数。", back="/letters")
    page = await letters.published(request.app[RUNTIME], int(raw))
    if page.page > max(page.pages, 1):
        return _message(request, 404, "没有这一页", f"公开信件共 {page.pages} 页。", back="/letters")
    return _page(request, "letters_list.html", page=page)
