"""The application factory: one aiohttp app with every channel mounted."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiohttp import web

from .config import Settings
from .services import SERVICES, Services

log = logging.getLogger(__name__)


def create_app(settings: Settings, services: Services | None = None) -> web.Application:
    from handlers import api, disclosure, hotline, inbox, ops, wechat, wechat_answers

    from . import outbox

    services = services or Services.build(settings)
    app = web.Application(client_max_size=max(settings.max_body_bytes, 1024 * 1024))
    app[SERVICES] = services
    ops.setup(app)
    wechat.setup(app, services)
    wechat_answers.setup(app)  # keyword rules, menu clicks, the knowledge base
    api.setup(app)
    inbox.setup(app)  # staff pages: /login, /inbox/…
    hotline.setup(app, services)
    disclosure.setup(app, services)

    async def lifecycle(app: web.Application):
        await services.start()
        refresher = asyncio.create_task(_refresh_calendar(services))
        yield
        refresher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await refresher
        await services.close()

    app.cleanup_ctx.append(lifecycle)
    outbox.setup(app, services)  # after the services: stops before the engine closes
    return app


async def _refresh_calendar(services: Services) -> None:
    while True:
        await asyncio.sleep(30)
        try:
            await services.refresh_calendar()
        except Exception:
            log.exception("reloading the holiday calendar failed; keeping the previous one")
