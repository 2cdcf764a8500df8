"""The outbox for staff in the browser (/inbox/outbox): what is waiting to
go out (12345 messages, WeChat messages), what went, and what failed and
why, with a button to try a failed one again."""

from __future__ import annotations

from aiohttp import web

from bot.domain.errors import DomainError
from bot.domain.vocabulary import OUTBOX_STATUS_LABELS, OUTBOX_TARGET_LABELS
from bot.services import outbox

from .common.errors import status_of
from .common.guards import login_required
from .common.keys import ACTOR, RUNTIME
from .common.params import path_id
from .common.render import render
from .common.staff import redirect

STATUS_LABELS = OUTBOX_STATUS_LABELS
TARGET_LABELS = OUTBOX_TARGET_LABELS
PAGE = 100


@login_required
async def outbox_page(request: web.Request) -> web.Response:
    status = request.query.get("status") or None
    if status not in (None, *STATUS_LABELS):
        status = None
    page = await outbox.listing(request.app[RUNTIME], status=status, limit=PAGE)
    return render(request, "outbox.html", rows=page.items, current=status, counts=page.counts,
                  STATUS_LABELS_OUT=STATUS_LABELS, TARGET_LABELS=TARGET_LABELS, page_size=PAGE,
                  done=request.query.get("done"))


@login_required
async def outbox_retry(request: web.Request) -> web.Response:
    item_id = path_id(request, "item_id", "没有这条待发记录")
    try:
        await outbox.retry(request.app[RUNTIME], request[ACTOR], item_id)
    except DomainError as exc:
        if status_of(exc) == 404:
            raise web.HTTPNotFound() from None
        return render(request, "error.html", status=status_of(exc), message=exc.message + "。")
    return redirect("/inbox/outbox?status=pending&done=retried")
