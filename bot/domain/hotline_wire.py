"""The 12345 platform's wire format: the one module a second city's mapping
replaces. Field and type names, times, signatures, the shape of a page of
reconciliation; docs/hotline.md ("The protocol") documents it
for the platform's side.

Everything else speaks the product's terms: a ``HotlineOrder``, a
``HotlineEvent`` (bot/domain/hotline.py), and outgoing messages as the
neutral dicts bot/domain/hotline.py builds; ``encode_message`` turns one
into what goes on the wire. Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime
from zoneinfo import ZoneInfo

from .errors import InvalidInput
from .text import first_unstorable
from .hotline import (
    EVENT_TYPES, MAX_ORDER_ID, HotlineEvent, HotlineOrder, InvalidTime, OrderError, make_order, parse_time,
)

SIGNATURE_WINDOW = 300  # seconds either side of now
TIMESTAMP_HEADER = "X-Intake-Timestamp"
SIGNATURE_HEADER = "X-Intake-Signature"
DELIVERY_HEADER = "X-Intake-Delivery-Id"  # the same on every retry of one message: the platform's dedupe key
MAX_BATCH = 1000  # orders or events in one push
MAX_EVENT_ID = 64
MAX_NOTE = 2000


# ---- signatures -------------------------------------------------------------

def sign(secret: str, timestamp: str, body: bytes) -> str:
    """Lowercase hex HMAC-SHA256(secret, timestamp + "." + raw body). A GET
    (the reconciliation pull) signs its raw query string as the body."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify(secret: str, timestamp: str | None, signature: str | None, body: bytes, now: float) -> str | None:
    """None when the request is authentic and fresh, else why not (for logs,
    never for the caller: a forger learns nothing)."""
    if not timestamp or not signature:
        return "missing signature headers"
    timestamp = timestamp.strip()
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        return "timestamp is not a Unix time"
    if abs(now - int(timestamp)) > SIGNATURE_WINDOW:
        return "timestamp outside the allowed window"
    expected = sign(secret, timestamp, body)
    # As bytes: compare_digest refuses non-ASCII str, and headers can carry any.
    if not hmac.compare_digest(expected.encode(), signature.strip().lower().encode("utf-8", "replace")):
        return "bad signature"
    return None


def signed_headers(secret: str, body: bytes, now: float) -> dict[str, str]:
    timestamp = str(int(now))
    return {
        "Content-Type": "application/json; charset=utf-8",
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: sign(secret, timestamp, body),
    }


# ---- orders in ----------------------------------------------------------------

def order_batch(data: object) -> list:
    """The orders of a push body: one order object or ``{"orders": [...]}``."""
    if isinstance(data, dict) and "orders" in data:
        batch = data["orders"]
        if not isinstance(batch, list):
            raise InvalidInput("orders 必须是数组", "orders")
        return batch
    if isinstance(data, dict):
        return [data]
    raise InvalidInput("请求体必须是一个工单对象或 {\"orders\": [...]}")


def order_id_of(raw: object) -> str | None:
    """An order's id as far as it can be read, for a refusal's answer."""
    oid = raw.get("order_id") if isinstance(raw, dict) else None
    return str(oid) if isinstance(oid, (str, int)) and not isinstance(oid, bool) else None


def read_order(data: object, tz: ZoneInfo, *, now: datetime | None = None) -> HotlineOrder:
    """A pushed order object → HotlineOrder, or OrderError naming the field."""
    if not isinstance(data, dict):
        raise OrderError("工单必须是 JSON 对象")
    unstorable = first_unstorable(data)
    if unstorable is not None:  # NUL and the like: this order alone is refused (bot/domain/text.py)
        raise OrderError(f"{unstorable[0]} {unstorable[1]}", unstorable[0])
    caller = data.get("caller")
    if caller is None:
        caller = {}
    if not isinstance(caller, dict):
        raise OrderError("caller 必须是对象", "caller")
    return make_order(
        order_id=data.get("order_id"), received_at=data.get("received_at"), content=data.get("content"),
        request_type=data.get("request_type"), title=data.get("title"), caller_name=caller.get("name"),
        caller_phone=caller.get("phone"), deadline=data.get("deadline"), tz=tz, now=now,
        names={"caller_name": "caller.name", "caller_phone": "caller.phone"},
    )


# ---- events in ----------------------------------------------------------------

class EventError(InvalidInput):
    """An event refused as it stands: ``code`` is what the platform reads."""


def event_batch(data: object) -> list:
    if not isinstance(data, dict) or not isinstance(data.get("events"), list):
        raise InvalidInput("请求体必须是 {\"events\": [...]}", "events")
    return data["events"]


def event_id_of(raw: object) -> str | None:
    eid = raw.get("event_id") if isinstance(raw, dict) else None
    return eid if isinstance(eid, str) and eid.strip() else None


def _id(data: dict, name: str, limit: int) -> str:
    value = data.get(name)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise EventError(f"缺少字段 {name}", name, "invalid")
    value = value.strip()
    if len(value) > limit or any(ord(c) < 32 for c in value):
        raise EventError(f"{name} 无效（最多 {limit} 个字符，不含控制字符）", name, "invalid")
    return value


def _note(data: dict, name: str, *, required: bool = False) -> str | None:
    value = data.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise EventError(f"缺少字段 {name}", name, "invalid")
        return None
    if not isinstance(value, str):
        raise EventError(f"{name} 必须是字符串", name, "invalid")
    return value.strip()[:MAX_NOTE]


def read_event(data: object, tz: ZoneInfo) -> HotlineEvent:
    """A pushed (or pulled) event object → HotlineEvent with the product's
    field names, or EventError. What the event may do to the case is the
    lifecycle's to judge, not this module's."""
    if not isinstance(data, dict):
        raise EventError("事件必须是 JSON 对象", None, "invalid")
    unstorable = first_unstorable(data)
    if unstorable is not None:  # NUL and the like: refused on both databases (bot/domain/text.py)
        raise EventError(f"{unstorable[0]} {unstorable[1]}", unstorable[0], "invalid")
    event_id = _id(data, "event_id", MAX_EVENT_ID)
    order_id = _id(data, "order_id", MAX_ORDER_ID)
    kind = data.get("type")
    if kind not in EVENT_TYPES:
        raise EventError(f"未知的事件类型 {kind!r}，应为 {'、'.join(EVENT_TYPES)} 之一", "type", "unknown_type")
    try:
        at = parse_time(data.get("at"), tz)
    except InvalidTime as exc:
        raise EventError(f"at {exc}", "at", "invalid") from None
    fields: dict = {}
    if kind in ("urge", "supervise"):
        fields["note"] = _note(data, "note")
    elif kind == "rating":
        score = data.get("score")
        if not isinstance(score, int) or isinstance(score, bool) or not 1 <= score <= 5:
            raise EventError("score 必须是 1 到 5 的整数", "score", "invalid")
        fields.update(score=score, comment=_note(data, "comment"))
    elif kind == "redo":
        fields.update(reason=_note(data, "reason", required=True), deadline=_deadline(data, tz))
    elif kind in ("extension_result", "return_result"):
        approved = data.get("approved")
        if not isinstance(approved, bool):
            raise EventError("approved 必须是 true 或 false", "approved", "invalid")
        fields.update(approved=approved, reason=_note(data, "reason"))
        if kind == "extension_result":
            fields["deadline"] = _deadline(data, tz) if approved else None
    elif kind == "cancel":
        fields["reason"] = _note(data, "reason", required=True)
    return HotlineEvent(event_id=event_id, order_id=order_id, type=kind, at=at, fields=fields)


def _deadline(data: dict, tz: ZoneInfo) -> datetime | None:
    if data.get("deadline") in (None, ""):
        return None
    try:
        return parse_time(data["deadline"], tz, end_of_day=True)
    except InvalidTime as exc:
        raise EventError(f"deadline {exc}", "deadline", "invalid") from None


# ---- messages out ----------------------------------------------------------------

# Per message type, its fields in wire order; times are sent in office time.
MESSAGE_FIELDS: dict[str, tuple[str, ...]] = {
    "accepted": ("order_id", "accepted_at", "handler"),
    "progress": ("order_id", "reply", "replied_at"),
    "extension_request": ("order_id", "working_days", "reason", "requested_at"),
    "return_request": ("order_id", "reason", "basis", "requested_at"),
    "result": ("order_id", "status", "reply", "replied_at", "handler"),
}
TIME_FIELDS = frozenset({"accepted_at", "replied_at", "requested_at"})


def encode_message(message: Mapping, tz: ZoneInfo) -> dict:
    """A neutral outgoing message (bot/domain/hotline.py) as the platform
    reads it. Results queued before messages had types have none: they are
    results."""
    kind = message.get("type", "result")
    out: dict = {"type": kind}
    for name in MESSAGE_FIELDS[kind]:
        value = message.get(name)
        if name in TIME_FIELDS and isinstance(value, str) and value:
            value = datetime.fromisoformat(value).astimezone(tz).isoformat(timespec="seconds")
        out[name] = value
    return out


# ---- reconciliation ----------------------------------------------------------------

def pull_query(since: datetime | None, cursor: str | None, tz: ZoneInfo) -> dict[str, str]:
    """The query of one page: orders and events changed since ``since``."""
    query = {}
    if since is not None:
        query["since"] = since.astimezone(tz).isoformat(timespec="seconds")
    if cursor:
        query["cursor"] = cursor
    return query


def read_page(data: object, tz: ZoneInfo) -> tuple[list, list, str | None, datetime | None]:
    """(raw orders, raw events, the next page's cursor or None, the time the
    platform's answer is complete up to) of a pulled page."""
    if not isinstance(data, dict):
        raise InvalidInput("对账响应必须是 JSON 对象")
    orders, events = data.get("orders", []), data.get("events", [])
    if not isinstance(orders, list) or not isinstance(events, list):
        raise InvalidInput("对账响应的 orders 与 events 必须是数组")
    cursor = data.get("next_cursor")
    if cursor is not None and (not isinstance(cursor, str) or len(cursor) > 500):
        raise InvalidInput("对账响应的 next_cursor 无效", "next_cursor")
    until = None
    if data.get("until") not in (None, ""):
        try:
            until = parse_time(data["until"], tz)
        except InvalidTime as exc:
            raise InvalidInput(f"对账响应的 until {exc}", "until") from None
    return orders, events, cursor or None, until
