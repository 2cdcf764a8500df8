"""Operations: /healthz and /metrics, plus request metrics for every route."""

from __future__ import annotations

import time

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bot import metrics
from bot.services import ops

from .common.keys import RUNTIME


@web.middleware
async def metrics_middleware(request: web.Request, handler):
    started = time.perf_counter()
    route = request.match_info.route.resource.canonical if request.match_info.route.resource else "unmatched"
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        metrics.HTTP.observe(route, str(status), time.perf_counter() - started)


async def healthz(request: web.Request) -> web.Response:
    problem = await ops.database_problem(request.app[RUNTIME])
    if problem is not None:
        return web.json_response({"status": "error", "database": problem}, status=503)
    return web.json_response({"status": "ok"})


async def metrics_view(request: web.Request) -> web.Response:
    body = generate_latest(metrics.REGISTRY)
    resp = web.Response(body=body)
    resp.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    resp.charset = "utf-8"
    return resp

