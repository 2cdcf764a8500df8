"""The durable outbox: answers that leave through a machine (12345 results,
WeChat customer-service messages) are rows in ``outbox``, written in the
same transaction as the reply (storage/queries/outbox.py), and delivered by
an ``OutboxWorker`` that runs in every server process, through the senders
the assembly gives it, one per target.

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
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from prometheus_client import Counter

from bot import metrics
from bot.logs import FailureLog
from storage.database import Database, Tx
from storage.models import OutboxItem
from storage.queries import outbox as q

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


# Delivers one item or raises DeliveryError.
Sender = Callable[[OutboxItem], Awaitable[None]]


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


class OutboxWorker:
    def __init__(self, db: Database, senders: Mapping[str, Sender], options: OutboxOptions | None = None):
        self.db = db
        self.senders = dict(senders)
        self.opts = options or OutboxOptions()
        self._task: asyncio.Task | None = None
        self._wakeup = asyncio.Event()
        self._failures = FailureLog(log)
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
            except Exception as exc:  # the database may be briefly away; keep the worker alive
                self._failures.failed(exc, "outbox pass failed")  # each second of an outage: one line
                busy = False
            if busy:
                continue
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a
            # cancellation that lands as the event is set, and stop() then
            # waited forever on a worker that went on polling.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.opts.poll_interval):
                    await self._wakeup.wait()
            self._wakeup.clear()

    async def run_once(self) -> int:
        """Claim due items, deliver them, record the outcome. Returns how
        many were handled."""
        claimed = await self._claim()
        if claimed:
            errors = await asyncio.gather(*(self._deliver(item) for item, _ in claimed))
            # One transaction for all outcomes: on SQLite, one write lock, not one per item.
            await self.db.write(self._record, list(zip(claimed, errors)))
        return len(claimed)

    async def _claim(self) -> list[tuple[OutboxItem, datetime]]:
        targets = list(self.senders)
        if not targets:
            return []
        now = datetime.now(timezone.utc)
        # A cheap read first, so an idle worker never takes SQLite's write lock.
        if not await self.db.read(lambda tx: q.any_due(tx.session, now, targets)):
            return []
        lease = now + timedelta(seconds=self.opts.lease)
        items = await self.db.write(lambda tx: q.claim(tx.session, now, targets, limit=self.opts.batch, lease=lease))
        return [(item, lease) for item in items]

    async def _deliver(self, item: OutboxItem) -> DeliveryError | None:
        try:
            await self.senders[item.target](item)
        except DeliveryError as exc:
            return exc
        except Exception as exc:  # a sender bug must not kill the worker; retry and show it
            log.exception("outbox sender %s crashed on item %s", item.target, item.id)
            return DeliveryError(f"{type(exc).__name__}: {exc}")
        return None

    def _record(self, tx: Tx, outcomes: list[tuple[tuple[OutboxItem, datetime], DeliveryError | None]]) -> None:
        s = tx.session
        now = datetime.now(timezone.utc)
        delivered = [(item, lease) for (item, lease), error in outcomes if error is None]
        # One claim, one lease: the delivered are settled in one statement.
        for lease in {lease for _, lease in delivered}:
            q.set_messages_sent(s, q.settle_sent(s, [item.id for item, held in delivered if held == lease], lease, now))
        for item, _ in delivered:
            self.sent += 1
            DELIVERIES.labels(item.target, "sent").inc()
            log.info("outbox item %s (%s) delivered", item.id, item.target)
        for (item, lease), error in outcomes:
            if error is None:
                continue
            message = str(error)[:1000]
            if not error.retryable or item.attempts >= self.opts.max_attempts:
                if q.settle(s, item.id, lease, status="failed", locked_until=None, last_error=message) \
                        and item.message_id:
                    q.set_message_status(s, item.message_id, "failed", message)
                self.failed += 1
                DELIVERIES.labels(item.target, "failed").inc()
                log.warning("outbox item %s (%s) failed for good after %d attempts: %s",
                            item.id, item.target, item.attempts, message)
            else:
                delay = backoff(item.attempts, self.opts)
                DELIVERIES.labels(item.target, "retry").inc()
                q.settle(s, item.id, lease, locked_until=None, last_error=message,
                         next_attempt_at=now + timedelta(seconds=delay))
                log.info("outbox item %s (%s) attempt %d failed, retry in %.0f s: %s",
                         item.id, item.target, item.attempts, delay, message)
