"""What handlers get from the application: settings, database, classifier,
the intake writer and the working calendar, built once per process."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from nlp.base import Classifier
from storage import queries
from storage.db import create_engine, sessionmaker

from .config import Settings
from .intake import GroupCommitter, IntakeContext, IntakeWriter
from .workdays import WorkingCalendar

log = logging.getLogger(__name__)

CALENDAR_TTL = 60.0  # seconds: a holiday year entered by an admin reaches all workers within a minute


@dataclass
class Services:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    classifier: Classifier
    # Sessions for pages and API reads: on SQLite they start a plain BEGIN, so
    # a slow staff query never holds the write lock that intake waits on.
    read_sessions: async_sessionmaker[AsyncSession] | None = None
    committer: GroupCommitter | None = None
    writer: IntakeWriter | None = None
    calendar: WorkingCalendar = field(default_factory=WorkingCalendar)
    _calendar_loaded: float = 0.0
    extras: dict = field(default_factory=dict)  # per-feature state (clients, caches)

    @classmethod
    def build(cls, settings: Settings, classifier: Classifier | None = None) -> "Services":
        engine = create_engine(settings.database_url)
        if classifier is None:
            from nlp import load_classifier

            classifier = load_classifier()
        return cls(settings, engine, sessionmaker(engine), classifier,
                   read_sessions=sessionmaker(engine.execution_options(readonly=True)))

    def intake_context(self) -> IntakeContext:
        return IntakeContext(self.settings, self.calendar)

    async def refresh_calendar(self, force: bool = False) -> WorkingCalendar:
        now = time.monotonic()
        if force or now - self._calendar_loaded > CALENDAR_TTL:
            async with self.engine.connect() as conn:
                conn = await conn.execution_options(readonly=True)
                async with conn.begin():
                    days, years = await queries.calendar_overrides(conn)
            self.calendar = WorkingCalendar(days, frozenset(years))
            self._calendar_loaded = now
        return self.calendar

    async def start(self) -> None:
        await self.refresh_calendar(force=True)
        self.writer = IntakeWriter(self.engine)
        self.committer = GroupCommitter(self.writer, self.intake_context)
        self.committer.start()

    async def close(self) -> None:
        if self.committer is not None:
            await self.committer.close()
            await self.writer.wait_idle()
            self.writer.close()
        await self.engine.dispose()


from aiohttp import web  # noqa: E402  (the key that handlers use to find the services)

SERVICES = web.AppKey("services", Services)
