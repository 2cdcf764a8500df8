"""The assembly: the one place that knows every part. Builds the runtime
(database, classifier, caches, the outbound side), the aiohttp application
over the route table (bot/routes.py), and what runs beside the requests
(group commit, the outbox worker, the reloads of the calendar and the
knowledge base, the planner's statistics)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from datetime import timedelta
from zoneinfo import ZoneInfo

import aiohttp
from aiohttp import web

from bot.config import Settings
from bot.domain import lifecycle, notices
from bot.domain.lifecycle import Clock
from bot.domain.vocabulary import KINDS, TOPICS
from bot.domain.workdays import WorkingCalendar
from bot.logs import FailureLog, ProtocolLog
from bot.outbound.hotline_client import HotlinePuller, HotlineSender, PullError
from bot.outbound.outbox import OutboxOptions, OutboxWorker
from bot.outbound.wechat_api import WeChatApi
from bot.outbound.wechat_sender import WeChatNoticeSender, WeChatSender
from bot.services import accounts, dialog, hotline, intake, ops
from bot.services.knowledge import KnowledgeCache
from bot.services.runtime import CalendarCache, Runtime
from handlers.common.keys import RUNTIME, WECHAT_CRYPTO, WECHAT_ROUTER
from handlers.common.render import PAGES, Pages
from handlers.common.wechat_protocol import WeChatCrypto
from nlp import labels, load_classifier
from nlp.search_tokens import document_tokens
from storage.database import Database
from storage.maintenance import refresh_planner_statistics
from storage.migrate import upgrade

from . import routes

log = logging.getLogger(__name__)

CALENDAR_RELOAD_SECONDS = 30.0
KNOWLEDGE_RELOAD_SECONDS = 3.0  # an edit made on another worker reaches this one within seconds
STATISTICS_SECONDS = 6 * 3600.0
COUNTS_CLEANUP_SECONDS = 3600.0


def check_classifier_labels() -> None:
    """The classifier's label space is the domain's kinds and topics, in order."""
    if tuple(labels.KINDS) != tuple(KINDS) or tuple(labels.TOPICS) != tuple(TOPICS):
        raise RuntimeError(f"the classifier's labels {labels.KINDS} / {labels.TOPICS} are not the product's "
                           f"kinds and topics {tuple(KINDS)} / {tuple(TOPICS)} (bot/domain/vocabulary.py)")


def build_runtime(settings: Settings, *, classifier=None, db: Database | None = None) -> Runtime:
    check_classifier_labels()
    db = db or Database(settings.database_url)
    rt = Runtime(settings, db, classifier or load_classifier(), CalendarCache(db), KnowledgeCache(db))
    rt.dialogs = dialog.active_dialogs(rt)
    return rt


async def migrate(db: Database, office_timezone: str | None = None) -> None:
    """Apply the migrations (the tokeniser makes the search words of cases
    recorded before full-text search existed; the office's time zone and
    calendar date old answers and count their working days)."""
    tz = ZoneInfo(office_timezone or "Asia/Shanghai")

    def answer_figures(overrides, entered_years):
        clock = Clock(tz, WorkingCalendar(overrides, frozenset(entered_years)))
        return lambda received_at, answered_at: lifecycle.answer_figures(received_at, answered_at, clock)

    await upgrade(db.engine, document_tokens=document_tokens, answer_figures=answer_figures)


def create_app(settings: Settings, runtime: Runtime | None = None, *,
               outbox_options: OutboxOptions | None = None) -> web.Application:
    rt = runtime or build_runtime(settings)
    # aiohttp's keep-alive timer closes a connection whose request line and
    # headers have not all arrived in time (a slow-headers client), as well
    # as an idle one; the body's deadline is the error middleware's.
    app = web.Application(client_max_size=max(settings.max_body_bytes, 1024 * 1024), middlewares=routes.MIDDLEWARES,
                          handler_args={"keepalive_timeout": float(settings.header_timeout_seconds),
                                        "logger": ProtocolLog(logging.getLogger("intake.http.protocol"))})
    app[RUNTIME] = rt
    app[PAGES] = Pages(routes.NAV)
    app[WECHAT_ROUTER] = routes.wechat_router()
    if settings.wechat_aes_key:
        app[WECHAT_CRYPTO] = WeChatCrypto(settings.wechat_token or "", settings.wechat_aes_key,
                                          settings.wechat_app_id or "")
    app.router.add_routes(routes.ROUTES)
    options = outbox_options or OutboxOptions()

    async def lifespan(app: web.Application):
        async with _running(rt, options):
            yield

    async def hint(app: web.Application) -> None:
        await _hint_first_account(rt)

    app.cleanup_ctx.append(lifespan)
    app.on_startup.append(hint)
    return app


@contextlib.asynccontextmanager
async def _running(rt: Runtime, outbox_options: OutboxOptions):
    settings = rt.settings
    await rt.calendar.refresh(force=True)
    rt.committer = intake.group_committer(rt)
    rt.committer.start()
    try:
        await rt.knowledge.reload()
    except Exception:
        log.exception("answers: loading the knowledge base failed; answering with receipts only")
    http: aiohttp.ClientSession | None = None

    def http_session() -> aiohttp.ClientSession:
        nonlocal http
        if http is None or http.closed:
            http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=outbox_options.send_timeout))
        return http

    if settings.wechat_app_id and settings.wechat_app_secret:
        rt.wechat_api = WeChatApi(settings, rt.db)
    senders = {"wechat": WeChatSender(rt.db, lambda: rt.wechat_api),
               notices.OUTBOX_TARGET: WeChatNoticeSender(settings, rt.db, lambda: rt.wechat_api)}
    if settings.hotline_callback_url and settings.hotline_secret:
        # Without a platform to tell, 12345 messages wait, untried, for the
        # operator to configure one (retrying them would only churn).
        senders["hotline"] = HotlineSender(settings, http_session)
    rt.outbox = OutboxWorker(rt.db, senders, outbox_options)
    rt.outbox.start()
    tasks = [
        _every(CALENDAR_RELOAD_SECONDS, rt.calendar.refresh, "reloading the holiday calendar"),
        *_reconciliation(rt, http_session),
        _every(KNOWLEDGE_RELOAD_SECONDS, rt.knowledge.reload_if_changed, "reloading the knowledge base"),
        _every(COUNTS_CLEANUP_SECONDS, lambda: ops.forget_old_request_counts(rt),
               "dropping old per-address counts"),
        _every(STATISTICS_SECONDS, lambda: refresh_planner_statistics(rt.db.engine),
               "refreshing the query planner's statistics", first=True),
    ]
    yield
    await rt.outbox.stop()
    for task in tasks:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    if http is not None:
        await http.close()
    if rt.wechat_api is not None:
        await rt.wechat_api.close()
    await rt.committer.close()
    await rt.db.close()


def _reconciliation(rt: Runtime, http_session: Callable[[], aiohttp.ClientSession]) -> list[asyncio.Task]:
    """The periodic 12345 reconciliation, when a pull URL is configured:
    every few minutes by one worker of all, and at each process's start."""
    settings = rt.settings
    if not (settings.hotline_pull_url and settings.hotline_secret and settings.hotline_sync_minutes > 0):
        return []
    puller = HotlinePuller(settings, http_session)
    holder = f"{socket.gethostname()}:{os.getpid()}"
    every = timedelta(minutes=settings.hotline_sync_minutes)
    started = False

    async def job() -> None:
        nonlocal started
        at_start, started = not started, True
        try:
            await hotline.sync_if_due(rt, puller.page, holder, every, at_start=at_start)
        except PullError as exc:  # the platform away: one line, the next round tries again
            log.warning("12345 reconciliation failed: %s", exc)

    return [_every(every.total_seconds(), job, "reconciling with the 12345 platform", first=True)]


def _every(seconds: float, job: Callable[[], Awaitable], what: str, *, first: bool = False) -> asyncio.Task:
    """``job`` every ``seconds`` for the life of the app; a failure is logged
    and the previous state kept."""

    failures = FailureLog(log)  # during an outage: a line each round, a traceback once a minute

    async def loop() -> None:
        if not first:
            await asyncio.sleep(seconds)
        while True:
            try:
                await job()
            except Exception as exc:
                failures.failed(exc, "%s failed; keeping the previous state", what)
            await asyncio.sleep(seconds)

    return asyncio.create_task(loop(), name=what)


async def _hint_first_account(rt: Runtime) -> None:
    """A fresh install has no account and no default password: say how to make one."""
    try:
        if await accounts.any_user_exists(rt):
            return
    except Exception:  # the database is checked by /healthz; this is only a hint
        log.debug("could not check for staff accounts", exc_info=True)
        return
    log.warning("还没有工作人员账号：请运行 `.venv/bin/intake user add 用户名 --role admin` 创建管理员，"
                "然后在 http://%s:%s/login 登录", rt.settings.host, rt.settings.port)
