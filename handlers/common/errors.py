"""The one mapping from the domain's refusals to HTTP statuses."""

from __future__ import annotations

from bot.domain.errors import Conflict, DomainError, Forbidden, NotFound


def status_of(exc: DomainError) -> int:
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, Conflict):
        return 409
    if isinstance(exc, Forbidden):
        return 403
    return 400
