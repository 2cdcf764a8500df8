"""Ids in request paths."""

from __future__ import annotations

from aiohttp import web

from bot.domain.errors import NotFound
from bot.domain.text import fits_int64


def path_id(request: web.Request, name: str = "case_id", missing: str = "没有这个案件") -> int:
    """An integer id from the path; anything else is a 404 like an unknown id
    (a JSON error under /api, the error page under /inbox)."""
    try:
        value = int(request.match_info[name])
    except ValueError:
        raise NotFound(missing) from None
    if not fits_int64(value):  # no row has such an id; the database would refuse to look
        raise NotFound(missing)
    return value
