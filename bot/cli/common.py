"""What every command shares: logging, settings, a runtime for one command."""

from __future__ import annotations

import contextlib
import logging
import sys

from bot.config import Settings, load_settings
from bot.services.runtime import Runtime


def configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)


def fail(message: str, code: int = 2) -> int:
    print(f"错误：{message}", file=sys.stderr)
    return code


@contextlib.asynccontextmanager
async def runtime(settings: Settings | None = None, *, migrate: bool = True, classifier=None):
    """A runtime for one command (no background work), migrated first like
    ``intake serve`` so a fresh install works at once."""
    from bot.app import build_runtime
    from bot.app import migrate as apply_migrations

    rt: Runtime = build_runtime(settings or load_settings(), classifier=classifier or _no_classifier())
    try:
        if migrate:
            await apply_migrations(rt.db, rt.settings.timezone)
        yield rt
    finally:
        await rt.db.close()


class _LazyClassifier:
    """Loads the classifier on first use: most commands never classify."""

    def __init__(self):
        self._clf = None

    def classify(self, text: str, *, hint_kind: str | None = None):
        if self._clf is None:
            from nlp import load_classifier

            self._clf = load_classifier()
        return self._clf.classify(text, hint_kind=hint_kind)


def _no_classifier() -> _LazyClassifier:
    return _LazyClassifier()
