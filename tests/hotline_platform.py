"""A local stand-in for the provincial 12345 platform: it pushes signed work
orders to us and receives the results we push back, verifying our
signature like the real platform would. It can be told to fail (HTTP
status), hang, or go away entirely."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field

from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.domain.hotline_wire import sign, verify


def signed(secret: str, payload, *, timestamp: int | None = None, raw: bytes | None = None) -> tuple[bytes, dict]:
    """A body and headers as the platform sends them."""
    body = raw if raw is not None else json.dumps(payload, ensure_ascii=False).encode()
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return body, {"Content-Type": "application/json", "X-Intake-Timestamp": ts,
                  "X-Intake-Signature": sign(secret, ts, body)}


@dataclass
class HotlinePlatform:
    secret: str
    results: list[dict] = field(default_factory=list)  # acknowledged results, in order
    attempts: int = 0  # every request that reached us
    bad_signatures: int = 0
    fail_next: list[int] = field(default_factory=list)  # HTTP statuses to answer before succeeding
    hang: bool = False
    delivery_ids: list[str] = field(default_factory=list)
    _server: TestServer | None = None
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        assert self._server is not None
        return str(self._server.make_url("/results"))

    async def start(self, port: int | None = None) -> "HotlinePlatform":
        app = web.Application()
        app.router.add_post("/results", self._receive)
        self._server = TestServer(app, host="127.0.0.1", port=port)
        await self._server.start_server()
        return self

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.close()

    async def _receive(self, request: web.Request) -> web.Response:
        self.attempts += 1
        body = await request.read()
        if verify(self.secret, request.headers.get("X-Intake-Timestamp"),
                  request.headers.get("X-Intake-Signature"), body, time.time()):
            self.bad_signatures += 1
            return web.json_response({"code": 401, "msg": "签名错误"}, status=401)
        if self.hang:
            await asyncio.sleep(3600)
        if self.fail_next:
            return web.json_response({"code": 500, "msg": "平台繁忙"}, status=self.fail_next.pop(0))
        self.results.append(json.loads(body))
        self.delivery_ids.append(request.headers.get("X-Intake-Delivery-Id", ""))
        self._arrived.set()
        return web.json_response({"code": 0, "msg": "ok"})

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[dict]:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.results) < count:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise AssertionError(f"expected {count} results, platform got {len(self.results)} "
                                     f"after {self.attempts} attempts")
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), min(left, 0.2))
            except asyncio.TimeoutError:
                pass
        return self.results


async def serve_app(settings, classifier, *, outbox_options=None):
    """The real application on a loopback port (like conftest's ``server``),
    with the outbox tuned for tests (fast polls and backoff)."""
    from aiohttp.test_utils import TestClient

    from bot.app import build_runtime, create_app
    from bot.outbound.outbox import OutboxOptions

    runtime = build_runtime(settings, classifier=classifier)
    options = outbox_options or OutboxOptions(
        poll_interval=0.05, base_delay=0.05, max_delay=0.2, max_attempts=5, send_timeout=2.0, lease=5.0)
    client = TestClient(TestServer(create_app(settings, runtime, outbox_options=options), host="127.0.0.1"))
    await client.start_server()
    client.runtime = runtime
    return client
