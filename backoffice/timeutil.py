"""Time: stored in UTC, shown and entered in Ho Chi Minh City time (UTC+7, no daylight saving)."""
from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def local_to_utc(value: datetime) -> datetime:
    """A naive datetime typed by a person in Vietnam, as UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=LOCAL_TZ)
    return value.astimezone(timezone.utc)


def to_local(value: datetime) -> datetime:
    return value.astimezone(LOCAL_TZ)


def local_today() -> date:
    return datetime.now(LOCAL_TZ).date()
