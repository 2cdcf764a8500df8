"""The outbox's "hotline" sender: results of 12345 work orders go back to
INTAKE_HOTLINE_CALLBACK_URL, signed like the platform's pushes to us. Any
2xx is the acknowledgement."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from datetime import datetime

import aiohttp

from bot.config import Settings
from bot.domain import hotline
from storage.models import OutboxItem

from .outbox import DeliveryError


class HotlineSender:
    def __init__(self, settings: Settings, http: Callable[[], aiohttp.ClientSession]):
        self.settings = settings
        self.http = http  # the process's client session

    async def __call__(self, item: OutboxItem) -> None:
        settings = self.settings
        if not settings.hotline_callback_url or not settings.hotline_secret:
            raise DeliveryError("未配置 INTAKE_HOTLINE_CALLBACK_URL 或 INTAKE_HOTLINE_SECRET，无法回传12345平台")
        payload = dict(item.payload)
        if not payload.get("order_id"):
            raise DeliveryError("该案件没有12345工单编号，无法回传", retryable=False)
        if payload.get("replied_at"):  # stored in UTC; the platform reads office time
            payload["replied_at"] = (datetime.fromisoformat(payload["replied_at"]).astimezone(settings.tz)
                                     .isoformat(timespec="seconds"))
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        headers = hotline.signed_headers(settings.hotline_secret, body, time.time())
        headers["X-Intake-Delivery-Id"] = str(item.id)
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
