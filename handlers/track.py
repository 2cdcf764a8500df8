"""The citizen's progress look-up (/track): a public form (受理编号 + 查询码),
the case as the citizen may see it, and the rating of an answer.

An unknown number, a wrong code and a malformed input all answer the one
404 page, byte for byte; more than the configured look-ups a minute from
one address answer 429. The rating form is CSRF-protected (a signed
double-submit cookie) and checks the number and code again.
"""

from __future__ import annotations

from urllib.parse import urlencode

from aiohttp import web

from bot.domain.errors import Conflict, InvalidInput, NotFound, TooManyRequests
from bot.domain.vocabulary import RATING_LABELS
from bot.services import tracking

from .common.keys import RUNTIME
from .common.public_forms import checked_form, finish, form_token
from .common.render import STATIC, render
from .common.staff import client_address

MAX_FIELD = 64  # longer than any number or code: cut before it reaches a service
DONE = {
    "rated": "感谢您的评价，已记录。",
    "reopened": "很抱歉答复未能让您满意。您的诉求已重新交办，我们将重新办理并答复您。",
    "supervised": "很抱歉答复未能让您满意。您的诉求已提交领导督办，我们会尽快与您联系。",
}
CSRF_REFUSED = "表单已过期或缺少安全校验。请重新查询后再提交评价。"
STYLESHEET = STATIC / "track.css"


def _page(request: web.Request, template: str, status: int = 200, **context) -> web.Response:
    return finish(request, render(request, template, status=status, **context))


def _form_page(request: web.Request, status: int = 200, error: str | None = None) -> web.Response:
    # Never echoes what was typed: the 404 page is one page whatever the input.
    return _page(request, "track.html", status=status, error=error)


def _field(value: str | None) -> str:
    return (value or "").strip()[:MAX_FIELD]


def track_url(number: str, code: str, done: str | None = None) -> str:
    query = {"number": number, "code": code, **({"done": done} if done else {})}
    return "/track?" + urlencode(query)


async def track(request: web.Request) -> web.Response:
    """GET /track: the form; with ``number`` and ``code``: the case."""
    number, code = request.query.get("number"), request.query.get("code")
    if number is None and code is None:
        return _form_page(request)
    number, code = _field(number), _field(code)
    if not number or not code:
        return _form_page(request, 400, "请填写受理编号和查询码。")
    try:
        view = await tracking.look_up(request.app[RUNTIME], client_address(request), number, code)
    except TooManyRequests as exc:
        return _form_page(request, 429, exc.message)
    except NotFound as exc:
        return _form_page(request, 404, exc.message)
    return _page(request, "track_case.html", view=view, code=code, notice=DONE.get(request.query.get("done", "")),
                 form_token=form_token(request) if view.can_rate else "", RATING_LABELS=RATING_LABELS)


async def track_rating(request: web.Request) -> web.Response:
    """POST /track/rating: ``number``, ``code``, ``score`` (1–5), ``csrf_token``."""
    form = await checked_form(request)
    if form is None:
        return _form_page(request, 403, CSRF_REFUSED)
    number, code = _field(form.get("number")), _field(form.get("code"))
    try:
        outcome = await tracking.rate(request.app[RUNTIME], client_address(request), number, code,
                                      form.get("score"))
    except TooManyRequests as exc:
        return _form_page(request, 429, exc.message)
    except NotFound as exc:
        return _form_page(request, 404, exc.message)
    except (Conflict, InvalidInput) as exc:
        status = 409 if isinstance(exc, Conflict) else 400
        return _page(request, "track_message.html", status=status, message=exc.message,
                     back=track_url(number, code))
    done = "reopened" if outcome.reopened else "supervised" if outcome.supervised else "rated"
    return web.Response(status=303, headers={"Location": track_url(number, code, done),
                                             "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"})


async def stylesheet(request: web.Request) -> web.Response:
    return web.Response(body=STYLESHEET.read_bytes(), content_type="text/css", charset="utf-8",
                        headers={"Cache-Control": "public, max-age=3600"})

