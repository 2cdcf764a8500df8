"""Dates and times as people and programs write them, read in the office's
time zone (a time without an offset is office time)."""

from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

from .errors import InvalidInput

MIN_YEAR, MAX_YEAR = 1990, 2100


def parse_time(value, field: str, tz: ZoneInfo) -> datetime:
    """ISO 8601 → an aware UTC time; no offset means office time."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{field} 必须是 ISO 8601 时间，例如 2020-03-15T09:21:00+08:00", field)
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"{field} 不是有效的时间：{value!r}", field) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    if not MIN_YEAR <= moment.year <= MAX_YEAR:
        raise InvalidInput(f"{field} 年份不合理：{value!r}", field)
    return moment.astimezone(timezone.utc)


def parse_day(value, field: str, tz: ZoneInfo) -> date:
    """A date (2020-03-15) or an ISO time, taken as the office-local day."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and value.strip():
        raw = value.strip()
        try:
            if len(raw) == 10:
                day = date.fromisoformat(raw)
            else:
                moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
                if moment.tzinfo is None:
                    moment = moment.replace(tzinfo=tz)
                day = moment.astimezone(tz).date()
        except ValueError:
            raise InvalidInput(f"{field} 不是有效的日期：{value!r}", field) from None
        if not MIN_YEAR <= day.year <= MAX_YEAR:
            raise InvalidInput(f"{field} 年份不合理：{value!r}", field)
        return day
    raise InvalidInput(f"{field} 必须是日期，例如 2020-03-15", field)


def day_or_today(data: dict, field: str, tz: ZoneInfo) -> date:
    if data.get(field) in (None, ""):
        return datetime.now(tz).date()
    return parse_day(data[field], field, tz)
