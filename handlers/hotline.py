"""The 12345 platform's work-order push (POST /hotline/orders). Checks the
signature over the raw body, reads the orders, answers per order; the
orders are recorded (committed) before the answer leaves."""

from __future__ import annotations

import logging
import time

from aiohttp import web

from bot import metrics
from bot.domain import hotline
from bot.services import hotline as orders

from .common.json_api import error_response, json_ok, strict_loads
from .common.keys import RUNTIME

log = logging.getLogger(__name__)

MAX_BATCH = 1000


async def receive_orders(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    settings = rt.settings
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
        batch = data["orders"]
        if not isinstance(batch, list):
            return error_response(400, "invalid", "orders 必须是数组", "orders")
    elif isinstance(data, dict):
        batch = [data]
    else:
        return error_response(400, "invalid", "请求体必须是一个工单对象或 {\"orders\": [...]}")
    if len(batch) > MAX_BATCH:
        return error_response(413, "too_many", f"一次最多推送 {MAX_BATCH} 个工单", "orders")
    outcome = await orders.receive_orders(rt, batch)
    return json_ok(outcome.as_dict())
