"""Logging that stays readable during an outage: one line per failure, and
a traceback at most once a minute per kind of error.

During a database outage every request fails the same way; a traceback each
(10 KB) buried the log at 16 MB in ten seconds. ``FailureLog.failed`` logs
one line always and the traceback only when that kind (the exception's
type, and its cause's) has not shown one in the last ``every`` seconds; the
line after a quiet spell says how many were logged without it.

A leaf like bot.metrics: it imports nothing of ours. Each owner (the
Runtime, a worker) holds its own instance; nothing here is a module global."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

TRACEBACK_EVERY = 60.0  # seconds between two tracebacks of one kind
MAX_KINDS = 1000  # kinds remembered; more are forgotten oldest first


def kind_of(exc: BaseException) -> str:
    """The kind of an error for logs: its type, and the driver's underneath
    (``DBAPIError(CharacterNotInRepertoireError)``); never its message,
    which could hold personal data or a URL."""
    name = type(exc).__name__
    cause = getattr(exc, "orig", None) or exc.__cause__
    if cause is not None and cause is not exc:
        name += f"({type(cause).__name__})"
    return name


class FailureLog:
    """Rate-limited tracebacks per kind of error (see the module's doc)."""

    def __init__(self, logger: logging.Logger, every: float = TRACEBACK_EVERY,
                 clock: Callable[[], float] = time.monotonic):
        self._log = logger
        self._every = every
        self._clock = clock
        self._last: dict[str, float] = {}
        self._quiet: dict[str, int] = {}

    def failed(self, exc: BaseException, message: str, *args: object, level: int = logging.ERROR) -> bool:
        """Log ``message % args`` and the error's kind on one line, with the
        traceback when this kind has not had one for a minute. True when
        the traceback was logged."""
        kind = kind_of(exc)
        now = self._clock()
        last = self._last.get(kind)
        if last is not None and now - last < self._every:
            self._quiet[kind] = self._quiet.get(kind, 0) + 1
            self._log.log(level, message + " [%s; traceback at most once a minute]", *args, kind)
            return False
        if len(self._last) >= MAX_KINDS:
            oldest = min(self._last, key=self._last.__getitem__)
            del self._last[oldest]
            self._quiet.pop(oldest, None)
        self._last[kind] = now
        quiet = self._quiet.pop(kind, 0)
        more = f" ({quiet} more of this kind without traceback since the last one)" if quiet else ""
        self._log.log(level, message + " [%s]%s", *args, kind, more, exc_info=(type(exc), exc, exc.__traceback__))
        return True


class ProtocolLog:
    """The logger aiohttp's connection handler is given: what it logs with a
    traceback (a malformed request line, a header past 8 KB, an error in
    the protocol itself: anyone on the internet can send those) becomes one
    warning line, its traceback at most once a minute per kind."""

    def __init__(self, logger: logging.Logger, every: float = TRACEBACK_EVERY):
        self._log = logger
        self._failures = FailureLog(logger, every)

    def exception(self, message: str, *args: object, exc_info: object = True, **kw: object) -> None:
        exc = exc_info if isinstance(exc_info, BaseException) else None
        if exc is None:
            self._log.warning(message, *args)
        else:
            self._failures.failed(exc, message, *args, level=logging.WARNING)

    def __getattr__(self, name: str):  # debug, info, warning, isEnabledFor …: the logger's own
        return getattr(self._log, name)
