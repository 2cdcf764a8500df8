"""The one mapping from the domain's refusals to HTTP statuses."""

from __future__ import annotations

from bot.domain.errors import Conflict, DomainError, Forbidden, NotFound, TooManyRequests


def status_of(exc: DomainError) -> int:
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, Conflict):
        return 409
    if isinstance(exc, Forbidden):
        return 403
    if isinstance(exc, TooManyRequests):
        return 429
    return 400
