"""Contact tracing: the operations (open a case, run it, read it, acknowledge an alert).

A confirmed case's check-ins in the window (default 14 days before the confirmation, up to the time of the
trace) are its *visits*. Everyone whose stay at the same location overlapped a visit, widened by a margin on
both sides (default 30 minutes), is a *contact*. The overlap is one SQL query: the visits, as a small derived
table of bounds, joined to `checkins` on the location and the time range, served by the (location_id,
checked_in_at) index.

How long a stay lasts: until its check-out; an open stay until `BACKOFFICE_AUTO_CHECKOUT_HOURS` after its last
scan (what automatic check-out, `qr.checkins.auto_checkout`, will record); and never longer than
`BACKOFFICE_TRACE_MAX_STAY_HOURS` (a forgotten check-out must not make someone a contact of everyone for days).
That cap is what makes the lower bound of the range scan exact: a stay that began more than the cap before a
visit cannot overlap it.

Only inspectors (cases of residents of their districts) and city admins trace; every case opened, run,
read and exported is in the audit log. The organizations visited get a `TraceAlert` that names the location
and the time, never the case.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy import BigInteger, Integer, and_, literal, or_, select, union_all
from sqlalchemy.orm import selectinload

from backoffice import audit
from backoffice.auth.scope import in_scope, scope
from backoffice.domain import Role
from backoffice.extensions import db
from backoffice.models import CheckIn, Location, Organization, Person, TraceAlert, TraceCase, Ward, mask_id
from backoffice.models.base import UTCDateTime
from backoffice.timeutil import now_utc

DEFAULT_WINDOW_DAYS = 14
DEFAULT_MARGIN_MINUTES = 30
WINDOW_RANGE = (1, 60)
MARGIN_RANGE = (0, 24 * 60)
TRACER_ROLES = {Role.CITY_ADMIN.value, Role.INSPECTOR.value}


class TraceError(Exception):
    """A request the tracing service refuses: `status` is the HTTP answer, `message` the user's text."""

    def __init__(self, code: str, message: Any, status: int = 400):
        super().__init__(code)
        self.code, self.message, self.status = code, message, status


class NotAllowed(TraceError):
    def __init__(self, code: str = "role"):
        super().__init__(code, "", 403)


def _setting(name: str, default: float) -> float:
    return float(current_app.config.get(name, default)) if has_app_context() else default


def auto_checkout() -> timedelta:
    return timedelta(hours=_setting("BACKOFFICE_AUTO_CHECKOUT_HOURS", 8))  # qr.checkins' default


def max_stay() -> timedelta:
    # Never shorter than the automatic check-out, or an open stay would be cut before it is closed.
    return max(timedelta(hours=_setting("BACKOFFICE_TRACE_MAX_STAY_HOURS", 24)), auto_checkout())


def stay_end(checked_in_at: datetime, last_seen_at: datetime | None, checked_out_at: datetime | None) -> datetime:
    """When a stay is taken to end (see the module docstring); the SQL below encodes the same rule."""
    end = checked_out_at or (last_seen_at or checked_in_at) + auto_checkout()
    return min(end, checked_in_at + max_stay())


@dataclass(frozen=True)
class Visit:
    checkin_id: int
    organization_id: int
    organization_name: str
    location_id: int
    location_name: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Contact:
    checkin_id: int
    visit_id: int
    person_id: int
    full_name: str
    id_number: str
    phone: str | None
    organization_name: str
    location_id: int
    location_name: str
    start: datetime
    end: datetime
    is_staff: bool
    colour: str

    @property
    def masked_id(self) -> str:
        return mask_id(self.id_number)


@dataclass
class TraceResult:
    case: TraceCase
    window_start: datetime
    window_end: datetime
    visits: list[Visit] = field(default_factory=list)
    contacts: list[Contact] = field(default_factory=list)

    @property
    def people(self) -> int:
        return len({c.person_id for c in self.contacts})

    def summary(self) -> dict:
        return {"visits": len(self.visits), "contacts": len(self.contacts), "people": self.people,
                "organizations": len({v.organization_id for v in self.visits}),
                "window_start": self.window_start.isoformat(), "window_end": self.window_end.isoformat()}


# --- queries ----------------------------------------------------------------------------------------
def case_visits(person_id: int, start: datetime, end: datetime) -> list[Visit]:
    """The case's own check-ins in [start, end] (the (person_id, checked_in_at) index)."""
    rows = db.session.execute(
        select(CheckIn.id, CheckIn.organization_id, Organization.name, CheckIn.location_id, Location.name,
               CheckIn.checked_in_at, CheckIn.last_seen_at, CheckIn.checked_out_at)
        .join(Location, Location.id == CheckIn.location_id).join(Organization, Organization.id == CheckIn.organization_id)
        .where(CheckIn.person_id == person_id, CheckIn.checked_in_at >= start, CheckIn.checked_in_at <= end)
        .order_by(CheckIn.checked_in_at))
    return [Visit(cid, oid, oname, lid, lname, start_, stay_end(start_, seen, out))
            for cid, oid, oname, lid, lname, start_, seen, out in rows]


def overlap_query(visits: list[Visit], margin: timedelta, exclude_person: int):
    """One query: every stay at a visited location overlapping a visit widened by `margin`.

    The visits become a derived table of precomputed bounds (lo, hi, lo - max stay, lo - auto check-out), so
    the join compares columns to values only: `location_id = v AND checked_in_at BETWEEN lo - max_stay AND hi`
    is an index range scan on (location_id, checked_in_at) per visit, on every database.

    Both CTEs are MATERIALIZED so each is planned on its own: inlined, PostgreSQL joined the bounds to
    `locations` first and then probed the check-ins index by location alone (every stay of 60 days at the
    place, filtered afterwards — 100+ ms at 10 million rows instead of about 1 ms)."""
    cap, auto = max_stay(), auto_checkout()
    ts = UTCDateTime()
    rows = [select(literal(v.checkin_id, BigInteger()).label("visit_id"),
                   literal(v.location_id, Integer()).label("location_id"),
                   literal(v.start - margin, ts).label("lo"), literal(v.end + margin, ts).label("hi"),
                   literal(v.start - margin - cap, ts).label("lo_cap"),
                   literal(v.start - margin - auto, ts).label("lo_seen")) for v in visits]
    bounds = (rows[0] if len(rows) == 1 else union_all(*rows)).cte("visit_bounds").prefix_with("MATERIALIZED")
    c = CheckIn
    stays = (
        select(c.id, bounds.c.visit_id, c.person_id, c.organization_id, c.location_id, c.checked_in_at,
               c.last_seen_at, c.checked_out_at, c.is_staff, c.status_colour)
        .select_from(bounds)
        .join(c, and_(c.location_id == bounds.c.location_id,
                      c.checked_in_at <= bounds.c.hi, c.checked_in_at >= bounds.c.lo_cap,
                      or_(and_(c.checked_out_at.is_not(None), c.checked_out_at >= bounds.c.lo),
                          and_(c.checked_out_at.is_(None), c.last_seen_at >= bounds.c.lo_seen))))
        .where(c.person_id != exclude_person)
    ).cte("contact_stays").prefix_with("MATERIALIZED")
    s = stays.c
    return (
        select(s.id, s.visit_id, s.person_id, Person.full_name, Person.id_number, Person.phone, Organization.name,
               s.location_id, Location.name, s.checked_in_at, s.last_seen_at, s.checked_out_at, s.is_staff,
               s.status_colour)
        .select_from(stays)
        .join(Person, Person.id == s.person_id)
        .join(Location, Location.id == s.location_id)
        .join(Organization, Organization.id == s.organization_id)
        .order_by(Location.name, s.checked_in_at, s.id)
    )


def trace(case: TraceCase, now: datetime | None = None) -> TraceResult:
    """Visits and contacts of a case (two queries; nothing written)."""
    confirmed = case.confirmed_at
    window_start = confirmed - timedelta(days=case.window_days)
    window_end = max(confirmed, now or now_utc())
    result = TraceResult(case, window_start, window_end, case_visits(case.person_id, window_start, window_end))
    if not result.visits:
        return result
    margin = timedelta(minutes=case.margin_minutes)
    seen: set[int] = set()
    for (cid, visit_id, pid, name, id_number, phone, org_name, loc_id, loc_name, start, seen_at, out, staff,
         colour) in db.session.execute(overlap_query(result.visits, margin, case.person_id)):
        if cid in seen:  # one stay overlapping two visits at the same place is one contact
            continue
        seen.add(cid)
        result.contacts.append(Contact(cid, visit_id, pid, name, id_number, phone, org_name, loc_id, loc_name,
                                       start, stay_end(start, seen_at, out), bool(staff), colour))
    return result


# --- operations -------------------------------------------------------------------------------------
def require_tracer(user: Any) -> None:
    if user is None or not getattr(user, "is_authenticated", False) or user.role not in TRACER_ROLES:
        raise NotAllowed()


def _validate(confirmed_at: datetime, window_days: int, margin_minutes: int, now: datetime) -> None:
    from flask_babel import lazy_gettext as _l
    if confirmed_at.tzinfo is None:
        raise ValueError("confirmed_at must be timezone-aware")
    if confirmed_at > now + timedelta(minutes=5):
        raise TraceError("future", _l("The confirmation time cannot be in the future."))
    if not WINDOW_RANGE[0] <= window_days <= WINDOW_RANGE[1]:
        raise TraceError("window", _l("The window must be between %(a)d and %(b)d days.", a=WINDOW_RANGE[0],
                                      b=WINDOW_RANGE[1]))
    if not MARGIN_RANGE[0] <= margin_minutes <= MARGIN_RANGE[1]:
        raise TraceError("margin", _l("The margin must be between %(a)d and %(b)d minutes.", a=MARGIN_RANGE[0],
                                      b=MARGIN_RANGE[1]))


def open_case(user: Any, person_id: int, *, confirmed_at: datetime, window_days: int = DEFAULT_WINDOW_DAYS,
              margin_minutes: int = DEFAULT_MARGIN_MINUTES, source: str = "manual",
              now: datetime | None = None, commit: bool = True, actor: Any = None) -> TraceResult:
    """Mark a person as a confirmed case and trace them: one transaction (case, alerts, audit).

    `user` is the tracer, checked for role and scope. `user=None` is the system itself, which traces when a
    positive test is recorded (`actor`, whoever recorded it, is then named in the audit log but needs no
    tracing role: a ward officer entering a test result starts a trace they cannot read)."""
    from flask_babel import lazy_gettext as _l
    now = now or now_utc()
    actor = user if user is not None else actor
    if user is not None or source == "manual":
        require_tracer(user)
        if not in_scope(Person, person_id, user):
            raise TraceError("not_found", _l("No resident with this ID number in your area."), 404)
    _validate(confirmed_at, window_days, margin_minutes, now)
    district = db.session.scalar(select(Ward.district_code).join(Person, Person.ward_code == Ward.code)
                                 .where(Person.id == person_id))
    case = TraceCase(person_id=person_id, source=source, confirmed_at=confirmed_at, window_days=window_days,
                     margin_minutes=margin_minutes, created_by_id=getattr(actor, "id", None), created_at=now,
                     district_code=district)
    db.session.add(case)
    db.session.flush()
    result = trace(case, now)
    case.summary = result.summary()
    raise_alerts(result, now)
    audit.record("trace.open", case, after={"person_id": person_id, "source": source,
                                            "confirmed_at": confirmed_at.isoformat(), "window_days": window_days,
                                            "margin_minutes": margin_minutes, **case.summary},
                 actor=actor if getattr(actor, "is_authenticated", False) else None)
    if commit:
        db.session.commit()
    return result


def get_case(user: Any, case_id: Any) -> TraceCase:
    """The case if the user may trace and see it; 403 for other roles, 404 out of scope."""
    require_tracer(user)
    return _scoped_one(TraceCase, case_id, user)


def _scoped_one(model: type, record_id: Any, user: Any):
    """The record `record_id` of `model` within the user's scope; TraceError 404 when absent or out of scope."""
    from flask_babel import lazy_gettext as _l
    try:
        key = int(record_id)
    except (TypeError, ValueError):
        key = 0
    record = db.session.scalar(scope(select(model).where(model.id == key), user))
    if record is None:
        raise TraceError("not_found", _l("Not found."), 404)
    return record


def read_case(user: Any, case_id: Any, *, action: str = "trace.view") -> TraceResult:
    """Run a case's trace for reading (or exporting); the reading itself is audited."""
    case = get_case(user, case_id)
    result = trace(case)
    audit.record_now(action, entity_name="trace_cases", entity_id=case.id, district_code=case.district_code,
                     after={"contacts": len(result.contacts), "people": result.people})
    return result


def rerun(user: Any, case_id: Any) -> TraceResult:
    """Trace again (check-ins recorded since then count): refresh the summary and the alerts."""
    case = get_case(user, case_id)
    now = now_utc()
    result = trace(case, now)
    before = dict(case.summary or {})
    case.summary = result.summary()
    raise_alerts(result, now)
    audit.record("trace.rerun", case, before=before, after=case.summary)
    db.session.commit()
    return result


def list_cases(user: Any, limit: int = 200) -> list[TraceCase]:
    require_tracer(user)
    return list(db.session.scalars(scope(select(TraceCase), user).options(selectinload(TraceCase.person))
                                   .order_by(TraceCase.created_at.desc(), TraceCase.id.desc()).limit(limit)))


def raise_alerts(result: TraceResult, now: datetime) -> list[TraceAlert]:
    """One alert per location visited, created or refreshed (an acknowledged alert stays acknowledged)."""
    per_location: dict[int, dict] = {}
    for v in result.visits:
        entry = per_location.setdefault(v.location_id, {"organization_id": v.organization_id, "from": v.start,
                                                        "to": v.end, "people": set()})
        entry["from"], entry["to"] = min(entry["from"], v.start), max(entry["to"], v.end)
    for c in result.contacts:
        per_location[c.location_id]["people"].add(c.person_id)
    existing = {a.location_id: a for a in db.session.scalars(
        select(TraceAlert).where(TraceAlert.trace_case_id == result.case.id))}
    alerts = []
    for location_id, entry in per_location.items():
        alert = existing.get(location_id) or TraceAlert(trace_case_id=result.case.id, location_id=location_id,
                                                        organization_id=entry["organization_id"], created_at=now)
        alert.visited_from, alert.visited_to, alert.contacts = entry["from"], entry["to"], len(entry["people"])
        db.session.add(alert)
        alerts.append(alert)
    return alerts


def open_alerts(user: Any) -> list[TraceAlert]:
    """Unacknowledged alerts of the user's organization(s), newest first."""
    return list(db.session.scalars(scope(select(TraceAlert), user).where(TraceAlert.acknowledged_at.is_(None))
                                   .order_by(TraceAlert.created_at.desc(), TraceAlert.id.desc()).limit(50)))


def acknowledge_alert(user: Any, alert_id: Any) -> TraceAlert:
    if user is None or user.role != Role.ORG_ADMIN.value:
        raise NotAllowed()
    alert = _scoped_one(TraceAlert, alert_id, user)
    if alert.acknowledged_at is None:
        alert.acknowledged_at, alert.acknowledged_by_id = now_utc(), user.id
        audit.record("trace_alert.acknowledge", alert, after={"location_id": alert.location_id})
        db.session.commit()
    return alert


def confirmed_at_from_test(tested_at: datetime) -> datetime:
    return tested_at if tested_at.tzinfo else tested_at.replace(tzinfo=timezone.utc)
