"""Check-in housekeeping: manual check-out, automatic check-out of stays left open, purging old check-ins while
keeping per-location daily counts (`CheckInDaily`). Each is one transaction, set-based, audited."""
from __future__ import annotations

from datetime import datetime, time, timedelta

from flask import current_app
from sqlalchemy import bindparam, case, delete, func, literal_column, select, update

from backoffice import audit
from backoffice.database import as_date, insert_on_conflict, is_postgres, local_date
from backoffice.auth.scope import get_in_scope_or_404
from backoffice.domain import Colour
from backoffice.extensions import db
from backoffice.models import CheckIn, CheckInDaily, User
from backoffice.timeutil import LOCAL_TZ, local_today, now_utc


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


def purge_checkins(older_than_days: int | None = None, *, today=None) -> tuple[int, int]:
    """Delete check-ins of local days older than `older_than_days` (BACKOFFICE_CHECKIN_RETENTION_DAYS, default 60),
    first adding their counts to `checkin_daily` (upsert, so a day purged in two runs adds up).
    Returns (check-ins deleted, daily rows written)."""
    days = int(older_than_days if older_than_days is not None else
               current_app.config.get("BACKOFFICE_CHECKIN_RETENTION_DAYS", 60))
    if days < 1:
        raise ValueError("the retention period must be at least one day")
    first_kept_day = (today or local_today()) - timedelta(days=days)
    cutoff = datetime.combine(first_kept_day, time.min, LOCAL_TZ)  # whole local days only
    day = local_date(CheckIn.checked_in_at).label("day")
    groups = db.session.execute(
        select(CheckIn.location_id, day, func.min(CheckIn.organization_id).label("organization_id"),
               func.count().label("total"),
               func.sum(case((CheckIn.status_colour == Colour.GREEN.value, 1), else_=0)).label("green"),
               func.sum(case((CheckIn.status_colour == Colour.BLACK.value, 1), else_=0)).label("black"))
        .where(CheckIn.checked_in_at < cutoff).group_by(CheckIn.location_id, day)).all()
    rows = [{"location_id": g.location_id, "day": as_date(g.day), "organization_id": g.organization_id,
             "total": g.total, "green": g.green or 0, "black": g.black or 0} for g in groups]
    if rows:
        table = CheckInDaily.__table__
        stmt = insert_on_conflict(table, conflict=[table.c.location_id, table.c.day], update=lambda excluded: {
            "total": table.c.total + excluded.total, "green": table.c.green + excluded.green,
            "black": table.c.black + excluded.black})
        db.session.execute(stmt, rows)
    deleted = db.session.execute(delete(CheckIn).where(CheckIn.checked_in_at < cutoff)
                                 .execution_options(synchronize_session=False)).rowcount
    audit.record("checkins.purge", entity_name="checkins",
                 after={"deleted": deleted, "daily_rows": len(rows), "before": first_kept_day.isoformat()})
    db.session.commit()
    return deleted, len(rows)
