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


DATE_FORMAT = "%d/%m/%Y"
DATETIME_FORMAT = "%d/%m/%Y %H:%M"


def format_local(value: datetime | date | None) -> str:
    """The one way a time is written for people: in the city's time, `dd/mm/yyyy HH:MM` (a date: `dd/mm/yyyy`);
    never UTC, never seconds or microseconds. Stored times are aware (UTCDateTime); a naive datetime is one a
    caller already turned into the city's wall-clock time (as exports do for spreadsheets), written as it is."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return (to_local(value) if value.tzinfo else value).strftime(DATETIME_FORMAT)
    return value.strftime(DATE_FORMAT)

