"""Check-in housekeeping: manual check-out, automatic check-out of stays left open, purging old check-ins day by
day while keeping per-location daily counts (`CheckInDaily`) and a ledger of the days retired (`RetiredDay`). Each
is one transaction (the purge: one per day), set-based, audited."""
from __future__ import annotations

import os
import secrets
import socket
from datetime import date, datetime, time, timedelta
from typing import NamedTuple

from flask import current_app
from sqlalchemy import Date, bindparam, case, func, literal, literal_column, select, update

from backoffice import audit
from backoffice.database import insert_on_conflict, is_postgres, one_at_a_time
from backoffice.auth.scope import get_in_scope_or_404
from backoffice.domain import Colour
from backoffice.extensions import db
from backoffice.models import CheckIn, CheckInDaily, RetiredDay, User
from backoffice.timeutil import LOCAL_TZ, local_today, now_utc, to_local


def check_out(checkin_id: int, *, user: User, now: datetime | None = None) -> CheckIn:
    """Close an open stay by hand (organization admin, checkpoint staff). Out of scope → OutOfScope (404)."""
    now = now or now_utc()
    checkin = get_in_scope_or_404(CheckIn, checkin_id, user)
    if checkin.checked_out_at is None:
        checkin.checked_out_at = max(now, checkin.checked_in_at)
        checkin.checkout_reason = "manual"
        audit.record("checkins.check_out", checkin, actor=user, after={"checked_out_at": now.isoformat()})
        db.session.commit()
    return checkin


def auto_checkout(now: datetime | None = None, hours: float | None = None) -> int:
    """Close every stay not seen for `hours` (BACKOFFICE_AUTO_CHECKOUT_HOURS, default 8), as if the person left
    that long after their last scan. One UPDATE per backend; returns how many stays were closed."""
    now = now or now_utc()
    hours = float(hours if hours is not None else current_app.config.get("BACKOFFICE_AUTO_CHECKOUT_HOURS", 8))
    cutoff = now - timedelta(hours=hours)
    stale = (CheckIn.checked_out_at.is_(None)) & (CheckIn.last_seen_at < cutoff)
    if is_postgres():
        ends = CheckIn.last_seen_at + literal_column(f"interval '{int(hours * 3600)} seconds'")
        count = db.session.execute(update(CheckIn).where(stale).values(checked_out_at=ends, checkout_reason="auto")
                                   .execution_options(synchronize_session=False)).rowcount
    else:
        # SQLite keeps datetimes as text: compute the ends in Python and write them in one executemany.
        stale_rows = db.session.execute(select(CheckIn.id, CheckIn.last_seen_at).where(stale)).all()
        ends_by_id = [{"cid": r.id, "ends": min(now, r.last_seen_at + timedelta(hours=hours))} for r in stale_rows]
        if ends_by_id:
            table = CheckIn.__table__
            db.session.execute(update(table).where(table.c.id == bindparam("cid"), table.c.checked_out_at.is_(None))
                               .values(checked_out_at=bindparam("ends"), checkout_reason="auto"), ends_by_id)
        count = len(ends_by_id)
    if count:
        audit.record("checkins.auto_checkout", entity_name="checkins", after={"closed": count, "hours": hours})
    db.session.commit()
    return count


# The key of the purge's advisory lock on PostgreSQL (any fixed bigint no other lock of the application uses).
PURGE_LOCK_KEY = 0x62_6F_70_75_72_67_65  # "bopurge"


class PurgeResult(NamedTuple):
    deleted: int  # check-ins added to checkin_daily and deleted
    daily_rows: int  # checkin_daily rows written (inserted or added to)
    days: int  # local days retired (or whose late check-ins were added) by this run


def purge_checkins(older_than_days: int | None = None, *, today: date | None = None) -> PurgeResult:
    """Retire the local days older than `older_than_days` (BACKOFFICE_CHECKIN_RETENTION_DAYS, default 60): their
    check-ins are added to `checkin_daily` and deleted, and the day recorded in the ledger (`retired_days`).

    Day by day, oldest first, each day one transaction that purges on other processes and hosts wait for
    (`one_at_a_time`): the rollup, the delete and the ledger row commit together or not at all, so a purge killed
    half-way leaves each day either whole or retired, and two purges at once count each check-in once (the second
    finds the day's rows gone). A check-in recorded later for a retired day is added to the day's counts by the
    next purge, alone: the counts and the delete are of the same rows. The work per day is one day's rows, found
    down `ix_checkins_time`, whatever the number of days kept."""
    days = int(older_than_days if older_than_days is not None else
               current_app.config.get("BACKOFFICE_CHECKIN_RETENTION_DAYS", 60))
    if days < 1:
        raise ValueError("the retention period must be at least one day")
    first_kept_day = (today or local_today()) - timedelta(days=days)
    cutoff = _day_start(first_kept_day)  # whole local days only
    run = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
    deleted = daily_rows = retired = 0
    floor = None  # past the days this run has done: it ends even while late scans keep arriving
    while (day := _oldest_day(floor, cutoff)) is not None:
        gone, rows = _retire_day(day, run=run, first_kept_day=first_kept_day)
        deleted, daily_rows, retired = deleted + gone, daily_rows + rows, retired + (gone > 0)
        floor = _day_start(day + timedelta(days=1))
    return PurgeResult(deleted, daily_rows, retired)


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, LOCAL_TZ)


def _oldest_day(floor: datetime | None, cutoff: datetime) -> date | None:
    """The local day of the oldest check-in before `cutoff` (and from `floor`), read in a transaction of its own."""
    stmt = select(func.min(CheckIn.checked_in_at)).where(CheckIn.checked_in_at < cutoff)
    if floor is not None:
        stmt = stmt.where(CheckIn.checked_in_at >= floor)
    oldest = db.session.scalar(stmt)
    db.session.commit()  # the day's transaction begins with its lock
    return to_local(oldest).date() if oldest is not None else None


def _retire_day(day: date, *, run: str, first_kept_day: date) -> tuple[int, int]:
    """One day's transaction: (check-ins counted and deleted, checkin_daily rows written); (0, 0) when another
    purge retired the day first."""
    start, end = _day_start(day), _day_start(day + timedelta(days=1))
    try:
        with one_at_a_time(PURGE_LOCK_KEY):
            gone, rows = (_roll_up_and_delete_postgresql if is_postgres() else _roll_up_and_delete)(day, start, end)
            if gone:
                late = _record_retired(day, gone, run)
                audit.record("checkins.purge", entity_name="retired_days", entity_id=day.isoformat(),
                             after={"day": day.isoformat(), "deleted": gone, "daily_rows": rows, "late": late,
                                    "run": run, "before": first_kept_day.isoformat()})
            db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return gone, rows


def _adding(table):
    """The upsert's SET clause: a day's counts from another run (late check-ins) add to those already kept."""
    return lambda excluded: {"total": table.c.total + excluded.total, "green": table.c.green + excluded.green,
                             "black": table.c.black + excluded.black}


def _roll_up_and_delete_postgresql(day: date, start: datetime, end: datetime) -> tuple[int, int]:
    """One statement: the DELETE … RETURNING is what the rollup counts, so a scan committed while it runs is
    neither counted nor deleted (a SELECT then a DELETE would delete it uncounted), and the rows never leave the
    server."""
    table, daily = CheckIn.__table__, CheckInDaily.__table__
    gone = (table.delete().where(table.c.checked_in_at >= start, table.c.checked_in_at < end)
            .returning(table.c.location_id, table.c.organization_id, table.c.status_colour).cte("gone"))
    counts = (select(gone.c.location_id, literal(day, Date()), func.min(gone.c.organization_id), func.count(),
                     func.sum(case((gone.c.status_colour == Colour.GREEN.value, 1), else_=0)),
                     func.sum(case((gone.c.status_colour == Colour.BLACK.value, 1), else_=0)))
              .group_by(gone.c.location_id))
    rolled = (insert_on_conflict(daily, conflict=[daily.c.location_id, daily.c.day], update=_adding(daily))
              .from_select(["location_id", "day", "organization_id", "total", "green", "black"], counts)
              .returning(daily.c.location_id).cte("rolled"))
    row = db.session.execute(select(select(func.count()).select_from(gone).scalar_subquery(),
                                    select(func.count()).select_from(rolled).scalar_subquery())).one()
    return int(row[0]), int(row[1])


def _roll_up_and_delete(day: date, start: datetime, end: datetime) -> tuple[int, int]:
    """SQLite (no DELETE in a WITH): the DELETE first, which also takes the database's write lock, then its
    RETURNING rows counted here."""
    table, daily = CheckIn.__table__, CheckInDaily.__table__
    gone = db.session.execute(table.delete().where(table.c.checked_in_at >= start, table.c.checked_in_at < end)
                              .returning(table.c.location_id, table.c.organization_id, table.c.status_colour)).all()
    per_location: dict[int, dict] = {}
    for location_id, organization_id, colour in gone:
        row = per_location.setdefault(location_id, {"location_id": location_id, "day": day, "total": 0,
                                                    "organization_id": organization_id, "green": 0, "black": 0})
        row["organization_id"] = min(row["organization_id"], organization_id)
        row["total"] += 1
        row["green"] += colour == Colour.GREEN.value
        row["black"] += colour == Colour.BLACK.value
    if per_location:
        db.session.execute(insert_on_conflict(daily, conflict=[daily.c.location_id, daily.c.day],
                                              update=_adding(daily)), list(per_location.values()))
    return len(gone), len(per_location)


def _record_retired(day: date, checkins: int, run: str) -> bool:
    """Add the day's check-ins to its ledger row (made by the first run); True when the day was retired before
    (these were late check-ins)."""
    ledger = RetiredDay.__table__
    now = now_utc()
    stmt = insert_on_conflict(ledger, conflict=[ledger.c.day], update=lambda excluded: {
        "checkins": ledger.c.checkins + excluded.checkins,
        "late_checkins": ledger.c.late_checkins + excluded.checkins,
        "last_retired_at": excluded.last_retired_at})
    late = db.session.scalar(stmt.values(day=day, checkins=checkins, late_checkins=0, retired_at=now,
                                         retired_by=run, last_retired_at=now)
                             .returning(ledger.c.late_checkins))
    return bool(late)
