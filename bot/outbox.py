"""The durable outbox: answers that leave through a machine (12345 results,
WeChat customer-service messages) are rows in ``outbox``, written in the
same transaction as the reply, and delivered by an ``OutboxWorker`` that
runs in every server process.

Claiming is safe across processes: an item is leased (``locked_until``)
in a short transaction (PostgreSQL: FOR UPDATE SKIP LOCKED; SQLite: BEGIN
IMMEDIATE serialises claimers). Failures are retried with exponential
backoff; an item marked ``sent`` is never claimed again. Delivery is
at-least-once only if a process dies between the peer's acknowledgement
and our commit, so every request carries the item id
(``X-Intake-Delivery-Id``) for the peer to recognise a repeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import aiohttp
from aiohttp import web
from prometheus_client import Counter
from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Case, Message, OutboxItem

from . import hotline, metrics
from .services import Services

log = logging.getLogger(__name__)


DELIVERIES = Counter(
    "intake_outbox_deliveries_total", "Outbox delivery attempts by target and outcome (sent, retry, failed)",
    ["target", "outcome"], registry=metrics.REGISTRY,
)


class DeliveryError(Exception):
    """The peer did not acknowledge. ``retryable`` False means retrying the
    same request cannot help (the peer refused it); the message is shown to
    staff."""

    def __init__(self, message: str, retryable: bool = True):
        super().__init__(message)
        self.retryable = retryable


Sender = Callable[[OutboxItem, Services], Awaitable[None]]
_SENDERS: dict[str, Sender] = {}


def register_sender(target: str, sender: Sender) -> None:
    _SENDERS[target] = sender


def senders() -> dict[str, Sender]:
    return dict(_SENDERS)


async def enqueue(
    session: AsyncSession, target: str, case: Case | None, message: Message | None = None, payload: dict | None = None,
    *, now: datetime | None = None,
) -> OutboxItem:
    """Queue a delivery in the caller's transaction: it exists exactly when
    the change that caused it is committed."""
    item = OutboxItem(
        target=target, case_id=case.id if case is not None else None,
        message_id=message.id if message is not None else None, payload=payload or {},
        status="pending", attempts=0, next_attempt_at=now or datetime.now(timezone.utc),
    )
    session.add(item)
    return item


@dataclass(frozen=True)
class OutboxOptions:
    poll_interval: float = 1.0  # seconds between looks at the queue when idle
    lease: float = 120.0  # seconds a claimed item is ours; longer than any send may take
    batch: int = 20  # items claimed at once
    max_attempts: int = 30  # 5 s, 10 s, 20 s … then hourly: about 21 hours (a platform down overnight)
    base_delay: float = 5.0
    max_delay: float = 3600.0
    send_timeout: float = 15.0  # per HTTP request; well inside the lease


def backoff(attempts: int, opts: OutboxOptions) -> float:
    """Seconds before the next try after ``attempts`` failures, with jitter so
    many items that failed together don't retry together."""
    delay = min(opts.base_delay * 2 ** max(attempts - 1, 0), opts.max_delay)
    return delay * random.uniform(0.8, 1.2)


def http_session(services: Services) -> aiohttp.ClientSession:
    """One client session per process for the senders (created lazily)."""
    session = services.extras.get("outbox.http")
    if session is None or session.closed:
        opts: OutboxOptions = services.extras.get("outbox.options") or OutboxOptions()
        session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=opts.send_timeout))
        services.extras["outbox.http"] = session
    return session


class OutboxWorker:
    def __init__(self, services: Services, options: OutboxOptions | None = None):
        self.services = services
        self.opts = options or OutboxOptions()
        self._task: asyncio.Task | None = None
        self._wakeup = asyncio.Event()
        self.sent = 0
        self.failed = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox")

    def notify(self) -> None:
        """Look at the queue now (something was just queued)."""
        self._wakeup.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                busy = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database may be briefly away; keep the worker alive
                log.exception("outbox pass failed")
                busy = False
            if busy:
                continue
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), self.opts.poll_interval)
            self._wakeup.clear()

    async def run_once(self) -> int:
        """Claim due items, deliver them, record the outcome. Returns how
        many were handled."""
        claimed = await self._claim()
        if claimed:
            errors = await asyncio.gather(*(self._deliver(item) for item, _ in claimed))
            # One transaction for all outcomes: on SQLite, one write lock, not one per item.
            await self._record(list(zip(claimed, errors)))
        return len(claimed)

    async def _claim(self) -> list[tuple[OutboxItem, datetime]]:
        targets = list(_SENDERS)
        if not targets:
            return []
        now = datetime.now(timezone.utc)
        due = and_(
            OutboxItem.status == "pending", OutboxItem.target.in_(targets), OutboxItem.next_attempt_at <= now,
            or_(OutboxItem.locked_until.is_(None), OutboxItem.locked_until < now),
        )
        engine = self.services.engine
        # A cheap read first, so an idle worker never takes SQLite's write lock.
        async with engine.connect() as conn:
            conn = await conn.execution_options(readonly=True)
            async with conn.begin():
                if (await conn.execute(select(OutboxItem.id).where(due).limit(1))).first() is None:
                    return []
        lease = now + timedelta(seconds=self.opts.lease)
        async with self.services.sessions() as session, session.begin():
            stmt = select(OutboxItem).where(due).order_by(OutboxItem.next_attempt_at, OutboxItem.id).limit(self.opts.batch)
            if engine.dialect.name == "postgresql":
                stmt = stmt.with_for_update(skip_locked=True)
            items = list((await session.execute(stmt)).scalars())
            for item in items:
                # Counted at claim time: a crash mid-send still uses up an attempt.
                item.attempts += 1
                item.locked_until = lease
        return [(item, lease) for item in items]

    async def _deliver(self, item: OutboxItem) -> DeliveryError | None:
        sender = _SENDERS[item.target]
        try:
            await sender(item, self.services)
        except DeliveryError as exc:
            return exc
        except Exception as exc:  # a sender bug must not kill the worker; retry and show it
            log.exception("outbox sender %s crashed on item %s", item.target, item.id)
            return DeliveryError(f"{type(exc).__name__}: {exc}")
        return None

    async def _record(self, outcomes: list[tuple[tuple[OutboxItem, datetime], DeliveryError | None]]) -> None:
        now = datetime.now(timezone.utc)
        async with self.services.sessions() as session, session.begin():
            for (item, lease), error in outcomes:
                # Only while our lease holds: a worker that lost it records nothing.
                ours = and_(OutboxItem.id == item.id, OutboxItem.status == "pending", OutboxItem.locked_until == lease)
                if error is None:
                    done = await session.execute(update(OutboxItem).where(ours).values(
                        status="sent", sent_at=now, locked_until=None, last_error=None))
                    if done.rowcount and item.message_id:
                        await session.execute(update(Message).where(Message.id == item.message_id)
                                              .values(status="sent", error=None))
                    self.sent += 1
                    DELIVERIES.labels(item.target, "sent").inc()
                    log.info("outbox item %s (%s) delivered", item.id, item.target)
                    continue
                message = str(error)[:1000]
                if not error.retryable or item.attempts >= self.opts.max_attempts:
                    done = await session.execute(update(OutboxItem).where(ours).values(
                        status="failed", locked_until=None, last_error=message))
                    if done.rowcount and item.message_id:
                        await session.execute(update(Message).where(Message.id == item.message_id)
                                              .values(status="failed", error=message))
                    self.failed += 1
                    DELIVERIES.labels(item.target, "failed").inc()
                    log.warning("outbox item %s (%s) failed for good after %d attempts: %s",
                                item.id, item.target, item.attempts, message)
                else:
                    delay = backoff(item.attempts, self.opts)
                    DELIVERIES.labels(item.target, "retry").inc()
                    await session.execute(update(OutboxItem).where(ours).values(
                        locked_until=None, last_error=message, next_attempt_at=now + timedelta(seconds=delay)))
                    log.info("outbox item %s (%s) attempt %d failed, retry in %.0f s: %s",
                             item.id, item.target, item.attempts, delay, message)


async def retry_item(session: AsyncSession, item: OutboxItem, *, now: datetime | None = None) -> None:
    """Staff asked to try a failed delivery again."""
    now = now or datetime.now(timezone.utc)
    item.status, item.attempts, item.next_attempt_at, item.locked_until = "pending", 0, now, None
    if item.message_id:
        await session.execute(update(Message).where(Message.id == item.message_id).values(status="pending"))


# ---- the 12345 platform -------------------------------------------------------

async def send_hotline_result(item: OutboxItem, services: Services) -> None:
    """POST the result of a work order to INTAKE_HOTLINE_CALLBACK_URL, signed
    like the platform's pushes to us. Any 2xx is the acknowledgement."""
    settings = services.settings
    if not settings.hotline_callback_url or not settings.hotline_secret:
        raise DeliveryError("未配置 INTAKE_HOTLINE_CALLBACK_URL 或 INTAKE_HOTLINE_SECRET，无法回传12345平台")
    payload = dict(item.payload)
    if not payload.get("order_id"):
        raise DeliveryError("该案件没有12345工单编号，无法回传", retryable=False)
    if payload.get("replied_at"):  # stored in UTC; the platform reads office time
        payload["replied_at"] = (datetime.fromisoformat(payload["replied_at"]).astimezone(settings.tz)
                                 .isoformat(timespec="seconds"))
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    headers = hotline.signed_headers(settings.hotline_secret, body, time.time())
    headers["X-Intake-Delivery-Id"] = str(item.id)
    try:
        async with http_session(services).post(settings.hotline_callback_url, data=body, headers=headers) as resp:
            text = (await resp.text(errors="replace"))[:200]
            if 200 <= resp.status < 300:
                return
            # 408/429 and 5xx are the platform's trouble: try again later.
            retryable = resp.status >= 500 or resp.status in (408, 429)
            raise DeliveryError(f"12345平台返回 HTTP {resp.status}：{text}", retryable=retryable)
    except asyncio.TimeoutError:
        raise DeliveryError("12345平台超时未响应") from None
    except aiohttp.ClientError as exc:
        raise DeliveryError(f"无法连接12345平台：{type(exc).__name__}") from None


register_sender("hotline", send_hotline_result)


# ---- application lifecycle ----------------------------------------------------

def setup(app: web.Application, services: Services) -> None:
    """Run an OutboxWorker for the life of the app (every worker process)."""

    async def lifecycle(app: web.Application):
        worker = OutboxWorker(services, services.extras.get("outbox.options"))
        services.extras["outbox.worker"] = worker
        worker.start()
        yield
        await worker.stop()
        session = services.extras.pop("outbox.http", None)
        if session is not None:
            await session.close()

    app.cleanup_ctx.append(lifecycle)
