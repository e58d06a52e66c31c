"""Contact tracing: the operations (open a case, run it, read it, acknowledge an alert).

A confirmed case's check-ins in the window (default 14 days before the confirmation, up to the time of the
trace) are its *visits*. Everyone whose stay at the same location overlapped a visit, widened by a margin on
both sides (default 30 minutes), is a *contact*. The overlap is one SQL query: the visits, as a small derived
table of bounds, joined to `checkins` on the location and the time range, served by the (location_id,
checked_in_at) index.

How long a stay lasts: until its check-out; an open stay until `BACKOFFICE_AUTO_CHECKOUT_HOURS` after its last
scan (what automatic check-out, `scanning.checkins.auto_checkout`, will record); and never longer than
`BACKOFFICE_TRACE_MAX_STAY_HOURS` (a forgotten check-out must not make someone a contact of everyone for days).
That cap is what makes the lower bound of the range scan exact: a stay that began more than the cap before a
visit cannot overlap it.

Only inspectors (cases of residents of their districts) and city admins trace; every case opened, run,
read and exported is in the audit log. The organizations visited get a `TraceAlert` that names the location
and the time, never the case.

Opening a case needs a basis: a positive test of the person within
`BACKOFFICE_TRACE_TEST_DAYS` (default 7) of the confirmation time, or a stated reason that a second officer
(another inspector of the case's district, or a city admin; never the one who asked) approves. Until then the
case is `pending`: nothing is traced, nothing is shown, no organization is alerted.

A contact is shown in clear only to a reader whose person scope (`auth.scope`) holds them; the others are masked
(initials, masked ID, no phone) and referred to the district of their ward (`tracing.referrals`), whose
inspectors see them in clear. A contact without a ward on record is in no inspector's scope: masked for every
inspector and referred to the city (a referral without a district, which only city admins read).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy import BigInteger, Integer, and_, literal, or_, select, true, union_all
from sqlalchemy.orm import aliased, selectinload

from backoffice import audit
from backoffice.auth.policy import may
from backoffice.auth.scope import get_in_scope_or_404, in_scope, scope, scope_clause
from backoffice.domain import TestOutcome
from backoffice.errors import BadRequest, Conflict, DomainError, OutOfRole, OutOfScope
from backoffice.extensions import db
from backoffice.models import (
    CheckIn, Location, Organization, Person, TestResult, TraceAlert, TraceCase, Ward, mask_id,
)
from backoffice.models.base import UTCDateTime
from backoffice.replica import reading
from backoffice.timeutil import now_utc

DEFAULT_WINDOW_DAYS = 14
DEFAULT_MARGIN_MINUTES = 30
WINDOW_RANGE = (1, 60)
MARGIN_RANGE = (0, 24 * 60)
REASON_MAX = 500


class TraceError(DomainError):
    """A request the tracing service refuses, as one of the domain's kinds below (`code`, `message`, `status`)."""


class TraceInvalid(TraceError, BadRequest):
    """The case's values cannot be traced: a time in the future, a window or margin out of range… (400)."""


class TraceNotFound(TraceError, OutOfScope):
    """No such resident, case, alert or referral in the user's scope (404)."""


class TraceConflict(TraceError, Conflict):
    """The case's state does not allow it: pending, or no longer pending (409)."""


class TraceForbidden(TraceError, OutOfRole):
    """A tracer who may not do this to this case: approve their own request (403, audited)."""


def _setting(name: str, default: float) -> float:
    return float(current_app.config.get(name, default)) if has_app_context() else default


def auto_checkout() -> timedelta:
    return timedelta(hours=_setting("BACKOFFICE_AUTO_CHECKOUT_HOURS", 8))  # scanning.checkins' default


def test_window() -> timedelta:
    """How far from the confirmation time a positive test counts as the case's basis (either side)."""
    return timedelta(days=_setting("BACKOFFICE_TRACE_TEST_DAYS", 7))


def max_stay() -> timedelta:
    # Never shorter than the automatic check-out, or an open stay would be cut before it is closed.
    return max(timedelta(hours=_setting("BACKOFFICE_TRACE_MAX_STAY_HOURS", 24)), auto_checkout())


def stay_end(checked_in_at: datetime, last_seen_at: datetime | None, checked_out_at: datetime | None) -> datetime:
    """When a stay is taken to end (see the module docstring); the SQL below encodes the same rule."""
    end = checked_out_at or (last_seen_at or checked_in_at) + auto_checkout()
    return min(end, checked_in_at + max_stay())


def shown_end(checked_in_at: datetime, last_seen_at: datetime | None, checked_out_at: datetime | None,
              now: datetime) -> tuple[datetime, bool]:
    """The end a reader is shown, and whether the stay is still going on: the presumed end of an open stay may lie
    hours ahead (last scan + automatic check-out), and no stay may be shown ending in the future — an open
    stay whose presumed end is still ahead ends "now" and reads as "still there"."""
    end = stay_end(checked_in_at, last_seen_at, checked_out_at)
    if end <= now:
        return end, False
    return max(now, checked_in_at), checked_out_at is None


@dataclass(frozen=True)
class Visit:
    checkin_id: int
    organization_id: int
    organization_name: str
    location_id: int
    location_name: str
    start: datetime
    end: datetime
    ongoing: bool = False  # an open stay, still within its presumed end: `end` is the time of the trace


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
    district_code: int | None = None  # of the contact's ward; None: no ward on record
    visible: bool = True  # the reader's person scope holds this contact (decided by auth.scope in SQL)
    hidden: bool = False  # this copy is masked: full_name holds initials, id_number the masked ID
    ongoing: bool = False  # an open stay, still within its presumed end: `end` is the time of the trace

    @property
    def masked_id(self) -> str:
        return self.id_number if self.hidden else mask_id(self.id_number)

    def masked(self) -> "Contact":
        """What a reader outside the contact's district may see: initials, the masked ID, no phone."""
        return replace(self, full_name=initials(self.full_name), id_number=mask_id(self.id_number), phone=None,
                       hidden=True)


def initials(full_name: str) -> str:
    """"Nguyễn Văn An" → "N. V. A." (as the self check-in page shows a masked name)."""
    return " ".join(word[0] + "." for word in full_name.split())


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

    def contact_people(self) -> list:
        """One row per person to contact (their overlapping stays aggregated), as pages and exports list them."""
        from backoffice.tracing.people import by_person
        return by_person(self.contacts)

    @property
    def referred(self) -> int:
        """People shown masked to this reader (referred to their own district)."""
        return len({c.person_id for c in self.contacts if c.hidden})

    def summary(self) -> dict:
        return {"visits": len(self.visits), "contacts": len(self.contacts), "people": self.people,
                "organizations": len({v.organization_id for v in self.visits}),
                "window_start": self.window_start.isoformat(), "window_end": self.window_end.isoformat()}


# --- queries ----------------------------------------------------------------------------------------
def case_visits(person_id: int, start: datetime, end: datetime, now: datetime | None = None) -> list[Visit]:
    """The case's own check-ins in [start, end] (the (person_id, checked_in_at) index); none ends after `now`."""
    now = now or now_utc()
    rows = db.session.execute(
        select(CheckIn.id, CheckIn.organization_id, Organization.name, CheckIn.location_id, Location.name,
               CheckIn.checked_in_at, CheckIn.last_seen_at, CheckIn.checked_out_at)
        .join(Location, Location.id == CheckIn.location_id).join(Organization, Organization.id == CheckIn.organization_id)
        .where(CheckIn.person_id == person_id, CheckIn.checked_in_at >= start, CheckIn.checked_in_at <= end)
        .order_by(CheckIn.checked_in_at))
    return [Visit(cid, oid, oname, lid, lname, start_, *shown_end(start_, seen, out, now))
            for cid, oid, oname, lid, lname, start_, seen, out in rows]


def overlap_query(visits: list[Visit], margin: timedelta, exclude_person: int, viewer: Any = None):
    """One query: every stay at a visited location overlapping a visit widened by `margin`, with the contact's
    district and whether `viewer` may read the contact in clear (the Person rule of `auth.scope`, evaluated per
    row; no viewer: the system, which sees all).

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
    # An alias, so that the scope rule's own subquery on `wards` is not correlated to this join.
    home = aliased(Ward, name="contact_ward")
    visible = (true() if viewer is None else scope_clause(Person, viewer)).label("visible")
    return (
        select(s.id, s.visit_id, s.person_id, Person.full_name, Person.id_number, Person.phone, Organization.name,
               s.location_id, Location.name, s.checked_in_at, s.last_seen_at, s.checked_out_at, s.is_staff,
               s.status_colour, home.district_code, visible)
        .select_from(stays)
        .join(Person, Person.id == s.person_id)
        .outerjoin(home, home.code == Person.ward_code)
        .join(Location, Location.id == s.location_id)
        .join(Organization, Organization.id == s.organization_id)
        .order_by(Location.name, s.checked_in_at, s.id)
    )


def trace(case: TraceCase, now: datetime | None = None, viewer: Any = None) -> TraceResult:
    """Visits and contacts of a case (two queries; nothing written). A pending case has none: it is not traced
    before its approval. With a `viewer`, the contacts outside their person scope come masked."""
    confirmed = case.confirmed_at
    now = now or now_utc()
    window_start = confirmed - timedelta(days=case.window_days)
    window_end = max(confirmed, now)
    if case.pending:
        return TraceResult(case, window_start, window_end)
    result = TraceResult(case, window_start, window_end,
                         case_visits(case.person_id, window_start, window_end, now))
    if not result.visits:
        return result
    margin = timedelta(minutes=case.margin_minutes)
    seen: set[int] = set()
    for (cid, visit_id, pid, name, id_number, phone, org_name, loc_id, loc_name, start, seen_at, out, staff,
         colour, district, visible) in db.session.execute(overlap_query(result.visits, margin, case.person_id,
                                                                         viewer)):
        if cid in seen:  # one stay overlapping two visits at the same place is one contact
            continue
        seen.add(cid)
        end, ongoing = shown_end(start, seen_at, out, now)
        contact = Contact(cid, visit_id, pid, name, id_number, phone, org_name, loc_id, loc_name, start, end,
                          bool(staff), colour, district, bool(visible), ongoing=ongoing)
        result.contacts.append(contact if contact.visible else contact.masked())
    return result


# --- operations -------------------------------------------------------------------------------------
def require_tracer(user: Any) -> None:
    if not may(user, "tracing.trace"):
        raise OutOfRole(code="tracing.trace")


def _validate(confirmed_at: datetime, window_days: int, margin_minutes: int, now: datetime) -> None:
    from flask_babel import lazy_gettext as _l
    if confirmed_at.tzinfo is None:
        raise ValueError("confirmed_at must be timezone-aware")
    if confirmed_at > now + timedelta(minutes=5):
        raise TraceInvalid(_l("The confirmation time cannot be in the future."), "future")
    if not WINDOW_RANGE[0] <= window_days <= WINDOW_RANGE[1]:
        raise TraceInvalid(_l("The window must be between %(a)d and %(b)d days.", a=WINDOW_RANGE[0],
                              b=WINDOW_RANGE[1]), "window")
    if not MARGIN_RANGE[0] <= margin_minutes <= MARGIN_RANGE[1]:
        raise TraceInvalid(_l("The margin must be between %(a)d and %(b)d minutes.", a=MARGIN_RANGE[0],
                              b=MARGIN_RANGE[1]), "margin")


def positive_test(person_id: int, confirmed_at: datetime, now: datetime) -> TestResult | None:
    """The person's positive test closest to the confirmation, within `test_window()` of it (and not after now)."""
    window = test_window()
    tests = db.session.scalars(select(TestResult).where(
        TestResult.person_id == person_id, TestResult.result == TestOutcome.POSITIVE.value,
        TestResult.tested_at >= confirmed_at - window, TestResult.tested_at <= min(confirmed_at + window, now)))
    return min(tests, key=lambda t: abs(t.tested_at - confirmed_at), default=None)


def _clean_reason(reason: str | None) -> str:
    from flask_babel import lazy_gettext as _l
    text = " ".join((reason or "").split())
    if len(text) > REASON_MAX:
        raise TraceInvalid(_l("The reason must be at most %(n)d characters.", n=REASON_MAX), "reason")
    return text


def open_case(user: Any, person_id: int, *, confirmed_at: datetime, window_days: int = DEFAULT_WINDOW_DAYS,
              margin_minutes: int = DEFAULT_MARGIN_MINUTES, source: str = "manual", reason: str | None = None,
              now: datetime | None = None, commit: bool = True, actor: Any = None) -> TraceResult:
    """Mark a person as a confirmed case and trace them: one transaction (case, alerts, referrals, audit).

    `user` is the tracer, checked for role and scope. `user=None` is the system itself, which traces when a
    positive test is recorded (`actor`, whoever recorded it, is then named in the audit log but needs no
    tracing role: a ward officer entering a test result starts a trace they cannot read).

    An officer's case needs a basis: the person's positive test near `confirmed_at` (traced at once), or a
    `reason` (the case waits, `pending`, for a second officer's `approve_case`; nothing is traced)."""
    from flask_babel import lazy_gettext as _l
    now = now or now_utc()
    actor = user if user is not None else actor
    if user is not None or source == "manual":
        require_tracer(user)
        if not in_scope(Person, person_id, user):
            raise TraceNotFound(_l("No resident with this ID number in your area."), "not_found")
    _validate(confirmed_at, window_days, margin_minutes, now)
    basis: dict[str, Any] = {"basis": "test"}
    if source == "manual":
        test = positive_test(person_id, confirmed_at, now)
        text = _clean_reason(reason)
        if test is not None:
            basis = {"basis": "test", "test_id": test.id}
        elif text:
            basis = {"basis": "reason", "reason": text}
        else:
            raise TraceInvalid(_l("This person has no positive test within %(days)d days of the "
                                  "confirmation: state a reason, which a second officer must approve.",
                                  days=test_window().days), "basis")
    district = db.session.scalar(select(Ward.district_code).join(Person, Person.ward_code == Ward.code)
                                 .where(Person.id == person_id))
    pending = basis["basis"] == "reason"
    case = TraceCase(person_id=person_id, source=source, confirmed_at=confirmed_at, window_days=window_days,
                     margin_minutes=margin_minutes, created_by_id=getattr(actor, "id", None), created_at=now,
                     district_code=district, status="pending" if pending else "open",
                     reason=basis.get("reason"), summary={})
    db.session.add(case)
    db.session.flush()
    result = trace(case, now) if pending else _run(case, now)
    audit.record("trace.request" if pending else "trace.open", case,
                 after={"person_id": person_id, "source": source, "confirmed_at": confirmed_at.isoformat(),
                        "window_days": window_days, "margin_minutes": margin_minutes, **basis, **case.summary},
                 actor=actor if getattr(actor, "is_authenticated", False) else None)
    if commit:
        db.session.commit()
    return result


def _run(case: TraceCase, now: datetime) -> TraceResult:
    """Trace an open case and write what follows: its summary, the alerts, the referrals (caller commits)."""
    from backoffice.tracing import alerts, referrals
    result = trace(case, now)
    alerts.raise_alerts(result, now)
    # Assigned whole: a JSON column does not notice a change made inside its dict.
    case.summary = {**result.summary(), "referrals": len(referrals.refer(result, now))}
    return result


def approve_case(user: Any, case_id: Any) -> TraceResult:
    """A second officer approves a pending case: it opens and is traced, in one transaction. The approver must
    have the case in scope (an inspector of its district, or a city admin) and must not be who asked for it."""
    from flask_babel import lazy_gettext as _l
    case = get_case(user, case_id)
    if not case.pending:
        raise TraceConflict(_l("This case is not waiting for approval."), "not_pending")
    if case.created_by_id is not None and case.created_by_id == user.id:
        raise TraceForbidden(_l("You asked for this case: another officer must approve it."),
                             "tracing.self_approval")
    now = now_utc()
    case.status, case.approved_by_id, case.approved_at = "open", user.id, now
    result = _run(case, now)
    audit.record("trace.approve", case, after={"requested_by_id": case.created_by_id, "reason": case.reason,
                                               **case.summary})
    db.session.commit()
    return result


def open_by_test(case: TraceCase, test_id: int | None, actor: Any = None) -> TraceResult:
    """A positive test recorded for a person whose case waits for approval is its basis: the case opens (the
    positive-test trigger, `hooks`, calls this inside the result's transaction)."""
    now = now_utc()
    case.status, case.approved_at = "open", now
    result = _run(case, now)
    audit.record("trace.open_by_test", case, after={"test_id": test_id, **case.summary},
                 actor=actor if getattr(actor, "is_authenticated", False) else None)
    return result


def get_case(user: Any, case_id: Any) -> TraceCase:
    """The case if the user may trace and see it; 403 for other roles, 404 out of scope."""
    require_tracer(user)
    return scoped_one(TraceCase, case_id, user)


def scoped_one(model: type, record_id: Any, user: Any):
    """The record `record_id` of `model` within the user's scope; TraceNotFound when absent or out of scope."""
    from flask_babel import lazy_gettext as _l
    try:
        return get_in_scope_or_404(model, record_id, user)
    except OutOfScope:
        raise TraceNotFound(_l("Not found."), "not_found") from None


def read_case(user: Any, case_id: Any, *, action: str = "trace.view") -> TraceResult:
    """Run a case's trace for reading (or exporting), contacts outside the reader's scope masked; the reading
    itself is audited. A pending case reads as its request only, and cannot be exported."""
    from flask_babel import lazy_gettext as _l
    with reading():
        case = get_case(user, case_id)
        if case.pending and action != "trace.view":
            raise TraceConflict(_l("This case is waiting for a second officer's approval."), "pending")
        result = trace(case, viewer=user)
    audit.record_now(action, entity_name="trace_cases", entity_id=case.id, district_code=case.district_code,
                     after={"contacts": len(result.contacts), "people": result.people, "masked": result.referred,
                            "status": case.status})
    return result


def rerun(user: Any, case_id: Any) -> TraceResult:
    """Trace again (check-ins recorded since then count): refresh the summary, the alerts and referrals."""
    from flask_babel import lazy_gettext as _l
    case = get_case(user, case_id)
    if case.pending:
        raise TraceConflict(_l("This case is waiting for a second officer's approval."), "pending")
    before = dict(case.summary or {})
    result = _run(case, now_utc())
    audit.record("trace.rerun", case, before=before, after=case.summary)
    db.session.commit()
    return result


def list_cases(user: Any, limit: int = 200) -> list[TraceCase]:
    require_tracer(user)
    return list(db.session.scalars(scope(select(TraceCase), user).options(selectinload(TraceCase.person))
                                   .order_by(TraceCase.created_at.desc(), TraceCase.id.desc()).limit(limit)))


def confirmed_at_from_test(tested_at: datetime) -> datetime:
    return tested_at if tested_at.tzinfo else tested_at.replace(tzinfo=timezone.utc)
