"""Dispatching WeChat messages and events to handler functions, in the
manner of aiogram's routers: handlers register with filters, routers nest,
the first handler that matches and answers wins.

A handler takes ``(message, services)`` and returns the reply text, ``None``
for no reply ("success"), or ``SKIP`` to let the next handler try.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from wechatpy.messages import BaseMessage

SKIP = object()

Handler = Callable[[BaseMessage, Any], Awaitable[Any]]
Predicate = Callable[[BaseMessage], bool]


def raw_type(msg: BaseMessage) -> str:
    """MsgType as sent (wechatpy reports types it doesn't know as 'unknown')."""
    return str(msg._data.get("MsgType", "")).lower()


def event_name(msg: BaseMessage) -> str | None:
    """The event's name in lower case (wechatpy's, e.g. subscribe_scan), or
    None for a message."""
    if raw_type(msg) != "event":
        return None
    return str(getattr(msg, "event", None) or msg._data.get("Event", "")).lower()


@dataclass
class Route:
    handler: Handler
    types: frozenset[str] = frozenset()  # message types; empty = any
    events: frozenset[str] = frozenset()  # event names; empty = any
    when: Predicate | None = None

    def matches(self, msg: BaseMessage) -> bool:
        if self.events:
            if event_name(msg) not in self.events:
                return False
        elif self.types and raw_type(msg) not in self.types:
            return False
        return self.when is None or self.when(msg)


@dataclass
class Router:
    name: str = "root"
    routes: list[Route | "Router"] = field(default_factory=list)

    def message(self, *types: str, when: Predicate | None = None):
        def register(fn: Handler) -> Handler:
            self.routes.append(Route(fn, types=frozenset(types), when=when))
            return fn
        return register

    def event(self, *events: str, when: Predicate | None = None):
        def register(fn: Handler) -> Handler:
            self.routes.append(Route(fn, types=frozenset({"event"}), events=frozenset(e.lower() for e in events), when=when))
            return fn
        return register

    def include(self, router: "Router", *, first: bool = False) -> None:
        """Add a sub-router; ``first`` puts it ahead of the routes already here."""
        if first:
            self.routes.insert(0, router)
        else:
            self.routes.append(router)

    async def dispatch(self, msg: BaseMessage, services: Any) -> Any:
        for route in self.routes:
            if isinstance(route, Router):
                result = await route.dispatch(msg, services)
            elif route.matches(msg):
                result = await route.handler(msg, services)
            else:
                continue
            if result is not SKIP:
                return result
        return SKIP
