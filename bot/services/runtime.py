"""The one typed object a use case is given: settings, the database, the
classifier, the caches every worker keeps, and the outbound side. Built and
closed by the assembly (bot/app.py); nothing here is a module global."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.config import Settings
from bot.logs import FailureLog
from bot.domain.intake import IntakePolicy
from bot.domain.workdays import WorkingCalendar
from nlp.labels import Classifier
from storage.database import Database
from storage.queries import calendar as calendar_queries

if TYPE_CHECKING:
    from bot.outbound.outbox import OutboxWorker
    from bot.outbound.wechat_api import WeChatApi
    from storage.writer import GroupCommitter

    from .batching import BatchLookup
    from .knowledge import KnowledgeCache

CALENDAR_TTL = 60.0  # seconds: a holiday year entered by an admin reaches all workers within a minute


class CalendarCache:
    """The legal working calendar (the package's years plus what admins
    entered), re-read from the database at most once a minute."""

    def __init__(self, db: Database, ttl: float = CALENDAR_TTL):
        self._db = db
        self._ttl = ttl
        self._loaded = 0.0
        self.current = WorkingCalendar()

    async def refresh(self, force: bool = False) -> WorkingCalendar:
        now = time.monotonic()
        if force or now - self._loaded > self._ttl:
            days, years = await self._db.read(lambda tx: calendar_queries.overrides(tx.session))
            self.current = WorkingCalendar(days, frozenset(years))
            self._loaded = now
        return self.current


@dataclass
class Runtime:
    settings: Settings
    db: Database
    classifier: Classifier
    calendar: CalendarCache
    knowledge: KnowledgeCache
    # Started with the application (None in one-shot commands):
    committer: GroupCommitter | None = None  # batches the inbound messages into shared commits
    outbox: OutboxWorker | None = None  # delivers answers that leave through a machine
    wechat_api: WeChatApi | None = None  # WeChat's server API (customer-service messages, menu)
    dialogs: BatchLookup[str, bool] | None = None  # who is in the middle of the disclosure dialog
    # Failed requests and background jobs: one line each, a traceback per kind at most once a minute.
    failures: FailureLog = field(default_factory=lambda: FailureLog(logging.getLogger("intake.errors")))

    def intake_policy(self) -> IntakePolicy:
        s = self.settings
        return IntakePolicy(s.tz, s.thread_window, self.calendar.current, s.deadline_days_for)

    def outbox_queued(self) -> None:
        """Something was queued for delivery: the worker looks now, not at its next poll."""
        if self.outbox is not None:
            self.outbox.notify()
