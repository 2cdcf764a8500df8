"""A local 12345 platform that keeps its own state of each work order,
written from the protocol in docs/hotline.md ("The protocol"),
not from the server's code.

It dispatches (派单) orders and pushes its events to the unit's server, and
receives the unit's messages at ``/messages``, checking each against the
order's state as a real platform would: 签收 first and once; 阶段性答复 and
requests only on a signed, unfinished order; a 延期 request only before the
deadline and one at a time; 办结 once per round. A delivery id it has seen is
acknowledged again without being applied again. It answers reconciliation
pulls at ``/changes`` from its journal, in pages. It can lose pushes (to be
found by reconciliation) and be down.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.domain.hotline_wire import sign, verify

TZ = ZoneInfo("Asia/Shanghai")
MESSAGE_TYPES = ("accepted", "progress", "extension_request", "return_request", "result")


def _signed_headers(secret: str, body: bytes) -> dict[str, str]:
    ts = str(int(time.time()))
    return {"Content-Type": "application/json", "X-Intake-Timestamp": ts, "X-Intake-Signature": sign(secret, ts, body)}


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)


@dataclass
class Order:
    data: dict
    deadline: datetime
    state: str = "dispatched"  # dispatched → accepted → finished (→ accepted again on redo) | returned | cancelled
    pending_extension: dict | None = None
    pending_return: dict | None = None
    rounds: int = 0  # 办结 received
    log: list[str] = field(default_factory=list)  # the unit's messages applied, by type, in order
    results: list[dict] = field(default_factory=list)
    ratings: list[int] = field(default_factory=list)


@dataclass
class FakePlatform:
    secret: str
    intake_url: str = ""  # the unit's server, for pushes
    orders: dict[str, Order] = field(default_factory=dict)
    journal: list[tuple[float, str, dict]] = field(default_factory=list)  # (seq, "order" | "event", object)
    deliveries: dict[str, dict] = field(default_factory=dict)  # delivery id → the message applied
    repeats: int = 0  # deliveries seen again (acknowledged, not applied)
    refused: list[tuple[str, str, int]] = field(default_factory=list)  # (type, order id, HTTP status)
    bad_signatures: int = 0
    lose_pushes: bool = False  # pushes are "lost": journaled, never sent
    down: bool = False  # /messages and /changes answer 503
    page_size: int = 2
    _seq: itertools.count = field(default_factory=lambda: itertools.count(1))
    _events: itertools.count = field(default_factory=lambda: itertools.count(1))
    _server: TestServer | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    # ---- serving ----------------------------------------------------------------

    async def start(self, port: int | None = None) -> "FakePlatform":
        app = web.Application()
        app.router.add_post("/messages", self._message)
        app.router.add_get("/changes", self._changes)
        self._server = TestServer(app, host="127.0.0.1", port=port)
        await self._server.start_server()
        return self

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.close()

    def url(self, path: str) -> str:
        assert self._server is not None
        return str(self._server.make_url(path))

    # ---- the platform's own acts ---------------------------------------------------

    async def dispatch(self, order_id: str, content: str, *, request_type: str = "投诉", days: int = 10) -> dict:
        """派单: a new order, pushed to the unit (unless pushes are lost)."""
        received = datetime.now(TZ).replace(microsecond=0) - timedelta(minutes=1)
        deadline = received + timedelta(days=days)
        data = {"order_id": order_id, "received_at": received.isoformat(), "request_type": request_type,
                "title": content[:20], "content": content, "caller": {"name": "张先生", "phone": "13800001234"},
                "deadline": deadline.isoformat()}
        self.orders[order_id] = Order(data, deadline)
        self.journal.append((next(self._seq), "order", data))
        return await self._push("/hotline/orders", {"orders": [data]})

    async def event(self, order_id: str, kind: str, **fields) -> dict:
        """An event on an order's life, with the platform's own state change."""
        order = self.orders[order_id]
        event = {"event_id": f"EV-{next(self._events):06d}", "order_id": order_id, "type": kind,
                 "at": datetime.now(TZ).isoformat(timespec="seconds"), **fields}
        if kind == "extension_result":
            assert order.pending_extension is not None, "no extension request to answer"
            if fields["approved"]:
                order.deadline = _time(fields["deadline"])
            order.pending_extension = None
        elif kind == "return_result":
            assert order.pending_return is not None, "no return request to answer"
            order.state = "returned" if fields["approved"] else order.state
            order.pending_return = None
        elif kind == "rating":
            assert order.state == "finished", "a rating follows the 办结"
            order.ratings.append(fields["score"])
        elif kind == "redo":
            assert order.state == "finished", "重办 follows the 办结"
            order.state = "accepted"
            if "deadline" in fields:
                order.deadline = _time(fields["deadline"])
        elif kind == "cancel":
            order.state = "cancelled"
        self.journal.append((next(self._seq), "event", event))
        answer = await self._push("/hotline/events", {"events": [event]})
        return {"event": event, "answer": answer}

    async def _push(self, path: str, payload: dict) -> dict:
        if self.lose_pushes:
            return {"lost": True}
        body = json.dumps(payload, ensure_ascii=False).encode()
        async with aiohttp.ClientSession() as http:
            async with http.post(self.intake_url + path, data=body, headers=_signed_headers(self.secret, body)) as r:
                assert r.status == 200, await r.text()
                return await r.json()

    # ---- the unit's messages ---------------------------------------------------------

    async def _message(self, request: web.Request) -> web.Response:
        body = await request.read()
        if verify(self.secret, request.headers.get("X-Intake-Timestamp"), request.headers.get("X-Intake-Signature"),
                  body, time.time()):
            self.bad_signatures += 1
            return web.json_response({"code": 401, "msg": "签名错误"}, status=401)
        if self.down:
            return web.json_response({"code": 503, "msg": "平台维护中"}, status=503)
        delivery = request.headers.get("X-Intake-Delivery-Id", "")
        if delivery in self.deliveries:
            self.repeats += 1
            return web.json_response({"code": 0, "msg": "重复投递，已忽略"})
        message = json.loads(body)
        kind, order = message.get("type"), self.orders.get(message.get("order_id"))
        if kind not in MESSAGE_TYPES:
            return self._refuse(kind, message.get("order_id"), 400, "未知的消息类型")
        if order is None:
            return self._refuse(kind, message.get("order_id"), 404, "没有这个工单")
        problem = self._check(order, kind, message)
        if problem:
            return self._refuse(kind, message["order_id"], 409, problem)
        self._apply(order, kind, message)
        self.deliveries[delivery] = message
        self._changed.set()
        return web.json_response({"code": 0, "msg": "ok"})

    def _refuse(self, kind, order_id, status: int, why: str) -> web.Response:
        self.refused.append((str(kind), str(order_id), status))
        return web.json_response({"code": status, "msg": why}, status=status)

    @staticmethod
    def _check(order: Order, kind: str, message: dict) -> str | None:
        if kind == "accepted":
            return None if order.state == "dispatched" else "工单已签收或已办结"
        if order.state != "accepted":
            return "工单未签收，或已办结、退回、撤单"
        if kind == "extension_request":
            if order.pending_extension is not None:
                return "已有待审批的延期申请"
            if datetime.now(timezone.utc) > order.deadline:
                return "办理期限已过，不能申请延期"
        if kind == "return_request" and order.pending_return is not None:
            return "已有待审批的退回申请"
        return None

    @staticmethod
    def _apply(order: Order, kind: str, message: dict) -> None:
        order.log.append(kind)
        if kind == "accepted":
            order.state = "accepted"
        elif kind == "extension_request":
            order.pending_extension = message
        elif kind == "return_request":
            order.pending_return = message
        elif kind == "result":
            order.state = "finished"
            order.rounds += 1
            order.results.append(message)

    async def wait_for(self, order_id: str, count: int, timeout: float = 20.0) -> list[str]:
        """Until the order's log holds ``count`` messages."""
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.orders[order_id].log) < count:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise AssertionError(f"{order_id}: expected {count} messages, have {self.orders[order_id].log}; "
                                     f"refused {self.refused}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), min(left, 0.2))
            except asyncio.TimeoutError:
                pass
        return self.orders[order_id].log

    # ---- reconciliation -----------------------------------------------------------------

    async def _changes(self, request: web.Request) -> web.Response:
        query = request.rel_url.raw_query_string.encode()
        if verify(self.secret, request.headers.get("X-Intake-Timestamp"), request.headers.get("X-Intake-Signature"),
                  query, time.time()):
            self.bad_signatures += 1
            return web.json_response({"code": 401, "msg": "签名错误"}, status=401)
        if self.down:
            return web.json_response({"code": 503, "msg": "平台维护中"}, status=503)
        start = int(request.query.get("cursor") or 0)
        # ``since`` is honoured by sequence here: this fake journals in order and keeps it all.
        page = self.journal[start:start + self.page_size]
        more = start + self.page_size < len(self.journal)
        body = json.dumps({
            "orders": [o for _, k, o in page if k == "order"],
            "events": [e for _, k, e in page if k == "event"],
            "next_cursor": str(start + self.page_size) if more else None,
            "until": datetime.now(TZ).isoformat(timespec="seconds"),
        }, ensure_ascii=False).encode()
        return web.Response(body=body, headers=_signed_headers(self.secret, body))
