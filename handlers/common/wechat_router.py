"""Dispatching WeChat pushes to handlers, after aiogram 3's ``Router``.

A router has one observer per kind of push: ``text`` (text messages),
``message`` (every other message type: image, voice, video, location,
link, types WeChat adds later) and ``event`` (events, by name). Handlers
register on an observer with filters; routers are included into a parent,
which tries its own handlers first, then its sub-routers in the order they
were included. The first handler whose filters pass and which does not
return ``UNHANDLED`` answers::

    router = Router("answers")

    @router.text()
    async def on_question(push, rt): ...

    @router.event("click")
    async def on_click(push, rt): ...

    root = Router("root")
    root.include_router(router)
    reply = await root.propagate(push, rt)   # the reply text, None, or UNHANDLED

A handler takes ``(push, runtime)`` and returns the reply text, None for no
reply ("success"), or ``UNHANDLED`` to let the next handler try.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bot.domain.wechat import Push

UNHANDLED: Any = type("Unhandled", (), {"__repr__": lambda self: "UNHANDLED"})()

Handler = Callable[[Push, Any], Awaitable[Any]]
Filter = Callable[[Push], bool]


@dataclass(frozen=True)
class _Registered:
    handler: Handler
    filters: tuple[Filter, ...]

    def accepts(self, push: Push) -> bool:
        return all(f(push) for f in self.filters)


class Observer:
    """The handlers of one kind of push, tried in the order registered."""

    def __init__(self, router: "Router", kind: str):
        self.router = router
        self.kind = kind
        self.handlers: list[_Registered] = []

    def register(self, handler: Handler, *filters: Filter) -> Handler:
        if not inspect.iscoroutinefunction(handler):
            raise TypeError(f"{self.router.name}.{self.kind}: handler {handler!r} must be an async function")
        for f in filters:
            if not callable(f):
                raise TypeError(f"{self.router.name}.{self.kind}: filter {f!r} is not callable")
        self.handlers.append(_Registered(handler, tuple(filters)))
        return handler

    def __call__(self, *filters: Filter):
        """Decorator: ``@router.text(filter, …)``."""
        return lambda handler: self.register(handler, *filters)

    async def trigger(self, push: Push, rt: Any) -> Any:
        for registered in self.handlers:
            if registered.accepts(push):
                result = await registered.handler(push, rt)
                if result is not UNHANDLED:
                    return result
        return UNHANDLED


class MessageObserver(Observer):
    def __call__(self, *types_or_filters: str | Filter):
        """``@router.message("image", "voice", filter, …)``: message types as strings."""
        types = frozenset(t.lower() for t in types_or_filters if isinstance(t, str))
        filters = tuple(f for f in types_or_filters if not isinstance(f, str))
        if types:
            filters = (lambda push: push.msg_type in types, *filters)
        return lambda handler: self.register(handler, *filters)


class EventObserver(Observer):
    def __call__(self, *names_or_filters: str | Filter):
        """``@router.event("subscribe", "subscribe_scan", filter, …)``: event
        names (case does not matter; wechatpy's names, e.g. subscribe_scan
        for a subscribe through a qrscene_ code); none: every event."""
        names = frozenset(n.lower() for n in names_or_filters if isinstance(n, str))
        filters = tuple(f for f in names_or_filters if not isinstance(f, str))
        if names:
            filters = (lambda push: push.event in names, *filters)
        return lambda handler: self.register(handler, *filters)


class Router:
    def __init__(self, name: str):
        self.name = name
        self.parent: Router | None = None
        self.sub_routers: list[Router] = []
        self.text = Observer(self, "text")
        self.message = MessageObserver(self, "message")
        self.event = EventObserver(self, "event")

    def __repr__(self) -> str:
        return f"Router({self.name!r})"

    def _observer_for(self, push: Push) -> Observer:
        if push.is_event:
            return self.event
        return self.text if push.msg_type == "text" else self.message

    def include_router(self, router: "Router") -> "Router":
        """Add ``router`` after the sub-routers already included."""
        if not isinstance(router, Router):
            raise TypeError(f"{self.name}: include_router expects a Router, got {router!r}")
        if router is self:
            raise RuntimeError(f"router {self.name!r} can't include itself")
        if router.parent is not None:
            raise RuntimeError(f"router {router.name!r} is already included in {router.parent.name!r}")
        ancestor = self.parent
        while ancestor is not None:
            if ancestor is router:
                raise RuntimeError(f"router {router.name!r} can't be included in its own descendant {self.name!r}")
            ancestor = ancestor.parent
        router.parent = self
        self.sub_routers.append(router)
        return router

    async def propagate(self, push: Push, rt: Any) -> Any:
        """The first answer of this router's handlers, then of its sub-routers."""
        result = await self._observer_for(push).trigger(push, rt)
        if result is not UNHANDLED:
            return result
        for router in self.sub_routers:
            result = await router.propagate(push, rt)
            if result is not UNHANDLED:
                return result
        return UNHANDLED
