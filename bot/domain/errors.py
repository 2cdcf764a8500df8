"""The errors a use case refuses with. Each carries the message the person
reads (Simplified Chinese), the input ``field`` that caused it when there
is one, and a stable ``code`` for programs. What HTTP status each becomes
is the handlers' business (handlers/common/errors.py), not the domain's.
"""

from __future__ import annotations


class DomainError(Exception):
    """A request the rules refuse; nothing was changed."""

    default_code = "invalid"

    def __init__(self, message: str, field: str | None = None, code: str | None = None):
        super().__init__(message)
        self.field = field
        self.code = code or self.default_code

    @property
    def message(self) -> str:
        return str(self)


class InvalidInput(DomainError):
    """The input breaks a rule (a missing or malformed field, a date out of range)."""


class NotFound(DomainError):
    """The thing asked about does not exist (or is not the asker's to see)."""

    default_code = "not_found"


class Conflict(DomainError):
    """The request is valid but the current state does not allow it (a stale
    form, a step already taken, a transition the status forbids)."""

    default_code = "conflict"


class Forbidden(DomainError):
    """The actor may not do this (e.g. staff changing what only admins may)."""

    default_code = "forbidden"


class TooManyRequests(DomainError):
    """One asker made too many requests in a short time (a public page's
    per-address limit); nothing was looked at."""

    default_code = "too_many_requests"
