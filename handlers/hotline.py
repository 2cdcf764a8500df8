"""The 12345 platform's pushes: work orders (POST /hotline/orders) and
events on their life (POST /hotline/events). Both are signed over the raw
body; each item is answered on its own, after what it changed is committed."""

from __future__ import annotations

import logging
import time

from aiohttp import web

from bot import metrics
from bot.domain import hotline_wire as wire
from bot.domain.errors import InvalidInput
from bot.services import hotline as platform

from .common.json_api import domain_error_response, error_response, json_ok, strict_loads
from .common.keys import RUNTIME

log = logging.getLogger(__name__)


async def _signed_json(request: web.Request, what: str):
    """The body's JSON, or the error response: 404 while the channel is off,
    401 for a forged or stale signature, 400 for what is not JSON."""
    settings = request.app[RUNTIME].settings
    if not settings.hotline_enabled:
        return None, error_response(404, "hotline_disabled", "12345 工单推送未启用（未配置 INTAKE_HOTLINE_SECRET）")
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return None, error_response(413, "too_large", "请求体过大，请分批推送")
    problem = wire.verify(settings.hotline_secret or "", request.headers.get(wire.TIMESTAMP_HEADER),
                          request.headers.get(wire.SIGNATURE_HEADER), body, time.time())
    if problem:
        log.warning("12345 %s push refused from %s: %s", what, request.remote, problem)
        metrics.REJECTED.labels("hotline", "signature").inc()
        return None, error_response(401, "unauthorized", "签名无效或时间戳过期")
    try:
        return strict_loads(body), None
    except (ValueError, RecursionError):  # JSONDecodeError, UnicodeDecodeError, NaN/Infinity
        metrics.REJECTED.labels("hotline", "json").inc()
        return None, error_response(400, "invalid_json", "请求体不是有效的 JSON")


async def receive_orders(request: web.Request) -> web.Response:
    data, refused = await _signed_json(request, "order")
    if refused is not None:
        return refused
    try:
        batch = wire.order_batch(data)
    except InvalidInput as exc:
        return domain_error_response(exc)
    if len(batch) > wire.MAX_BATCH:
        return error_response(413, "too_many", f"一次最多推送 {wire.MAX_BATCH} 个工单", "orders")
    outcome = await platform.receive_orders(request.app[RUNTIME], batch)
    return json_ok(outcome.as_dict())


async def receive_events(request: web.Request) -> web.Response:
    data, refused = await _signed_json(request, "event")
    if refused is not None:
        return refused
    try:
        batch = wire.event_batch(data)
    except InvalidInput as exc:
        return domain_error_response(exc)
    if len(batch) > wire.MAX_BATCH:
        return error_response(413, "too_many", f"一次最多推送 {wire.MAX_BATCH} 个事件", "events")
    outcome = await platform.apply_events(request.app[RUNTIME], batch)
    return json_ok(outcome.as_dict())
