"""The 12345 platform's HTTP side: the outbox's "hotline" sender (our
messages on an order's life to INTAKE_HOTLINE_CALLBACK_URL, signed like the
platform's pushes to us; any 2xx is the acknowledgement) and the
reconciliation pull from INTAKE_HOTLINE_PULL_URL. What goes on the wire is
bot/domain/hotline_wire.py's."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from datetime import datetime
from urllib.parse import urlencode

import aiohttp
from yarl import URL

from bot.config import Settings
from bot.domain import hotline_wire as wire
from storage.models import OutboxItem

from .outbox import DeliveryError

MAX_PAGE_BYTES = 20 * 1024 * 1024  # one page of reconciliation, at most


class HotlineSender:
    def __init__(self, settings: Settings, http: Callable[[], aiohttp.ClientSession]):
        self.settings = settings
        self.http = http  # the process's client session

    async def __call__(self, item: OutboxItem) -> None:
        settings = self.settings
        if not settings.hotline_callback_url or not settings.hotline_secret:
            raise DeliveryError("未配置 INTAKE_HOTLINE_CALLBACK_URL 或 INTAKE_HOTLINE_SECRET，无法回传12345平台")
        if not item.payload.get("order_id"):
            raise DeliveryError("该案件没有12345工单编号，无法回传", retryable=False)
        body = json.dumps(wire.encode_message(item.payload, settings.tz), ensure_ascii=False,
                          separators=(",", ":")).encode()
        headers = wire.signed_headers(settings.hotline_secret, body, time.time())
        headers[wire.DELIVERY_HEADER] = str(item.id)
        try:
            async with self.http().post(settings.hotline_callback_url, data=body, headers=headers) as resp:
                text = (await resp.text(errors="replace"))[:200]
                if 200 <= resp.status < 300:
                    return
                # 408/429 and 5xx are the platform's trouble: try again later.
                retryable = resp.status >= 500 or resp.status in (408, 429)
                raise DeliveryError(f"12345平台返回 HTTP {resp.status}：{text}", retryable=retryable)
        except asyncio.TimeoutError:
            raise DeliveryError("12345平台超时未响应") from None
        except aiohttp.ClientError as exc:
            raise DeliveryError(f"无法连接12345平台：{type(exc).__name__}") from None


class PullError(Exception):
    """A page of reconciliation could not be had (said in Chinese for the operator)."""


class HotlinePuller:
    """Fetches one page of orders and events changed since a time."""

    def __init__(self, settings: Settings, http: Callable[[], aiohttp.ClientSession]):
        self.settings = settings
        self.http = http

    async def page(self, since: datetime | None, cursor: str | None) -> object:
        """The page's JSON as the platform sent it (its signature checked)."""
        settings = self.settings
        if not settings.hotline_pull_url or not settings.hotline_secret:
            raise PullError("未配置 INTAKE_HOTLINE_PULL_URL 或 INTAKE_HOTLINE_SECRET，无法对账")
        base, _, fixed = settings.hotline_pull_url.partition("?")
        query = "&".join(q for q in (fixed, urlencode(wire.pull_query(since, cursor, settings.tz))) if q)
        headers = wire.signed_headers(settings.hotline_secret, query.encode(), time.time())
        # Sent exactly as signed (the whole raw query): yarl would otherwise re-quote it.
        url = URL(f"{base}?{query}" if query else base, encoded=True)
        try:
            async with self.http().get(url, headers=headers) as resp:
                body = await resp.content.read(MAX_PAGE_BYTES + 1)
                if resp.status != 200:
                    raise PullError(f"12345平台对账接口返回 HTTP {resp.status}：{body[:200].decode(errors='replace')}")
                if len(body) > MAX_PAGE_BYTES:
                    raise PullError("12345平台对账响应过大")
                problem = wire.verify(settings.hotline_secret, resp.headers.get(wire.TIMESTAMP_HEADER),
                                      resp.headers.get(wire.SIGNATURE_HEADER), body, time.time())
                if problem:
                    raise PullError(f"12345平台对账响应签名无效（{problem}）")
        except asyncio.TimeoutError:
            raise PullError("12345平台对账接口超时未响应") from None
        except aiohttp.ClientError as exc:
            raise PullError(f"无法连接12345平台对账接口：{type(exc).__name__}") from None
        try:
            return json.loads(body)
        except ValueError:
            raise PullError("12345平台对账响应不是有效的 JSON") from None
