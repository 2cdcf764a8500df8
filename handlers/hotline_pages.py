"""The outbox for staff in the browser (/inbox/outbox): what is waiting to
go out (12345 results, WeChat messages), what went, and what failed and
why, with a button to try a failed one again."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web
from sqlalchemy import func, select

from bot.outbox import retry_item
from bot.services import SERVICES
from storage import queries
from storage.models import Case, OutboxItem

from .inbox_auth import STAFF, login_required, redirect
from .inbox_web import NAV, TEMPLATE_DIRS, NavItem, render

STATUS_LABELS = {"pending": "待发送", "sent": "已送达", "failed": "发送失败"}
TARGET_LABELS = {"hotline": "12345平台", "wechat": "微信"}
PAGE = 100


@login_required
async def outbox_page(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    status = request.query.get("status") or None
    if status not in (None, *STATUS_LABELS):
        status = None
    stmt = select(OutboxItem, Case.number).outerjoin(Case, Case.id == OutboxItem.case_id)
    if status:
        stmt = stmt.where(OutboxItem.status == status)
    async with services.sessions() as session:
        counts = dict((await session.execute(select(OutboxItem.status, func.count()).group_by(OutboxItem.status))).all())
        rows = (await session.execute(stmt.order_by(OutboxItem.id.desc()).limit(PAGE))).all()
    return render(request, "outbox.html", rows=rows, current=status, counts=counts,
                  STATUS_LABELS_OUT=STATUS_LABELS, TARGET_LABELS=TARGET_LABELS, page_size=PAGE,
                  done=request.query.get("done"))


@login_required
async def outbox_retry(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    try:
        item_id = int(request.match_info["item_id"])
    except ValueError:
        raise web.HTTPNotFound() from None
    async with services.sessions() as session:
        item = await session.get(OutboxItem, item_id)
        if item is None:
            raise web.HTTPNotFound()
        if item.status != "failed":
            return render(request, "error.html", status=409, message="只有发送失败的记录可以重试。")
        await retry_item(session, item)
        await queries.add_audit(session, request[STAFF].actor.label, "outbox.retry", item.case_id, item_id=item.id)
        await session.commit()
    worker = services.extras.get("outbox.worker")
    if worker is not None:
        worker.notify()
    return redirect("/inbox/outbox?status=pending&done=retried")


def setup(app: web.Application) -> None:
    folder = Path(__file__).with_name("hotline_templates")
    if folder not in TEMPLATE_DIRS:
        TEMPLATE_DIRS.append(folder)
    item = NavItem("/inbox/outbox", "外发队列")
    if item not in NAV:
        NAV.append(item)
    app.router.add_get("/inbox/outbox", outbox_page)
    app.router.add_post("/inbox/outbox/{item_id}/retry", outbox_retry)
