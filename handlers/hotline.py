"""The 12345 platform's work-order push (POST /hotline/orders), and the
staff's view of the outbox (/api/v1/outbox, behind the API's Bearer auth).

Thin: check the signature over the raw body, validate each order, record
the valid ones (committed before we answer), answer per order."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timezone

from aiohttp import web
from sqlalchemy import func, select

from bot import hotline, metrics
from bot.cases import mask_text
from bot.intake import record_with_retry
from handlers.api import strict_loads
from bot.outbox import retry_item
from bot.services import SERVICES, Services
from storage import queries
from storage.models import Case, OutboxItem

from .api import ACTOR, ApiError, _decode_cursor, _encode_cursor, _int_param, error_response, json_ok

log = logging.getLogger(__name__)

MAX_BATCH = 1000


async def receive_orders(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    settings = services.settings
    if not settings.hotline_enabled:
        return error_response(404, "hotline_disabled", "12345 工单推送未启用（未配置 INTAKE_HOTLINE_SECRET）")
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return error_response(413, "too_large", "请求体过大，请分批推送")
    problem = hotline.verify(settings.hotline_secret or "", request.headers.get("X-Intake-Timestamp"),
                             request.headers.get("X-Intake-Signature"), body, time.time())
    if problem:
        log.warning("12345 push refused from %s: %s", request.remote, problem)
        metrics.REJECTED.labels("hotline", "signature").inc()
        return error_response(401, "unauthorized", "签名无效或时间戳过期")
    try:
        data = strict_loads(body)
    except (ValueError, RecursionError):  # JSONDecodeError, UnicodeDecodeError, NaN/Infinity
        metrics.REJECTED.labels("hotline", "json").inc()
        return error_response(400, "invalid_json", "请求体不是有效的 JSON")
    if isinstance(data, dict) and "orders" in data:
        orders = data["orders"]
        if not isinstance(orders, list):
            return error_response(400, "invalid", "orders 必须是数组", "orders")
    elif isinstance(data, dict):
        orders = [data]
    else:
        return error_response(400, "invalid", "请求体必须是一个工单对象或 {\"orders\": [...]}")
    if len(orders) > MAX_BATCH:
        return error_response(413, "too_many", f"一次最多推送 {MAX_BATCH} 个工单", "orders")

    tz, now = settings.tz, datetime.now(timezone.utc)
    await services.refresh_calendar()
    rejected, items = [], []
    for raw in orders:
        try:
            order = hotline.validate_order(raw, tz, now=now)
        except hotline.OrderError as exc:
            oid = raw.get("order_id") if isinstance(raw, dict) else None
            rejected.append({"order_id": oid if isinstance(oid, (str, int)) else None, "error": str(exc),
                             "field": exc.field})
            continue
        items.append(hotline.to_inbound(order, services.classifier, raw=raw, calendar=services.calendar, tz=tz))
    accepted, duplicates = [], []
    if items:
        results = await _record(services, items)
        for item, result in zip(items, results):
            (duplicates if result.duplicate else accepted).append(item.external_id)
    metrics.MESSAGES.labels("hotline", "accepted").inc(len(accepted))
    metrics.MESSAGES.labels("hotline", "duplicate").inc(len(duplicates))
    if rejected:
        metrics.REJECTED.labels("hotline", "order").inc(len(rejected))
    return json_ok({"accepted": accepted, "duplicates": duplicates, "rejected": rejected})


async def _record(services: Services, items: list) -> list:
    """Through the process's group committer when it runs: concurrent pushes
    then share a transaction instead of queueing for SQLite's write lock."""
    if services.committer is not None:
        return list(await asyncio.gather(*(services.committer.submit(item) for item in items)))
    return await record_with_retry(services.engine, items, services.intake_context())


# ---- the outbox, for staff ---------------------------------------------------

OUTBOX_STATUSES = ("pending", "sent", "failed")


def outbox_json(item: OutboxItem, number: str | None, tz) -> dict:
    def iso(moment):
        return moment.astimezone(tz).isoformat() if moment else None

    payload = item.payload or {}
    text = payload.get("reply", payload.get("text"))
    return {
        "id": item.id, "target": item.target, "case_id": item.case_id, "case_number": number,
        "message_id": item.message_id, "status": item.status, "attempts": item.attempts,
        "next_attempt_at": iso(item.next_attempt_at) if item.status == "pending" else None,
        "last_error": item.last_error, "created_at": iso(item.created_at), "sent_at": iso(item.sent_at),
        "order_id": payload.get("order_id"),
        "text": mask_text(text) if isinstance(text, str) else None,
    }


async def list_outbox(request: web.Request) -> web.Response:
    services: Services = request.app[SERVICES]
    status = request.query.get("status") or None
    if status is not None and status not in OUTBOX_STATUSES:
        raise ApiError(400, "invalid", f"status 必须是 {', '.join(OUTBOX_STATUSES)} 之一", "status")
    target = request.query.get("target") or None
    case_id = _int_param(request, "case_id", lo=1, hi=2**62)
    limit = _int_param(request, "limit", lo=1, hi=500, default=50)
    after = _decode_cursor(request.query.get("cursor"))
    stmt = select(OutboxItem, Case.number).outerjoin(Case, Case.id == OutboxItem.case_id)
    if status:
        stmt = stmt.where(OutboxItem.status == status)
    if target:
        stmt = stmt.where(OutboxItem.target == target)
    if case_id:
        stmt = stmt.where(OutboxItem.case_id == case_id)
    async with services.read_sessions() as session:
        total = (await session.execute(select(func.count()).select_from(stmt.subquery()))).scalar_one()
        counts = dict((await session.execute(
            select(OutboxItem.status, func.count()).group_by(OutboxItem.status))).all())
        page = stmt.order_by(OutboxItem.id.desc()).limit(limit + 1)
        if after is not None:
            page = page.where(OutboxItem.id < after)
        rows = (await session.execute(page)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    tz = services.settings.tz
    return json_ok({
        "items": [outbox_json(item, number, tz) for item, number in rows], "total": total,
        "counts": {s: counts.get(s, 0) for s in OUTBOX_STATUSES},
        "next": _encode_cursor(rows[-1][0].id) if more else None,
    })


async def retry_outbox(request: web.Request) -> web.Response:
    services: Services = request.app[SERVICES]
    try:
        item_id = int(request.match_info["item_id"])
    except ValueError:
        raise ApiError(404, "not_found", "没有这条待发记录") from None
    async with services.sessions() as session:
        item = await session.get(OutboxItem, item_id)
        if item is None:
            raise ApiError(404, "not_found", "没有这条待发记录")
        if item.status != "failed":
            raise ApiError(409, "conflict", "只有发送失败的记录可以重试", "status")
        await retry_item(session, item)
        await queries.add_audit(session, request[ACTOR].label, "outbox.retry", item.case_id, item_id=item.id)
        await session.commit()
        number = (await session.get(Case, item.case_id)).number if item.case_id else None
    worker = services.extras.get("outbox.worker")
    if worker is not None:
        worker.notify()
    return json_ok(outbox_json(item, number, services.settings.tz))


def setup(app: web.Application, services: Services) -> None:
    from . import hotline_pages

    hotline_pages.setup(app)  # /inbox/outbox, on the inbox's login, CSRF and templates
    app.router.add_post("/hotline/orders", receive_orders)
    app.router.add_get("/api/v1/outbox", list_outbox)
    app.router.add_post("/api/v1/outbox/{item_id}/retry", retry_outbox)
