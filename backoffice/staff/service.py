"""The verbs of staff linking: the one place a staff row is linked to a registry resident.

- `typed_id_number`: what the organization typed, normalised; it never looks at the registry, so neither the
  answer nor its timing tells whether the ID exists there.
- `after_signed_scan`: called by `scanning.service.record_scan` after a successful scan of a SIGNED personal QR at a
  checkpoint; links the organization's pending row whose typed ID number is the scanned person's. A scan of
  someone who is not pending costs one lookup on the (organization_id, id_number) unique index.
- `pending_for_ward`, `confirm_link`, `reject_link`: the ward officer's queue of pending rows for residents of
  their ward.
- `health_summaries`: what an organization sees of its linked staff: doses and dates, latest test, latest
  recovery, the current colour with its reason and "green until" (the health-status rules decide), never the
  registry record (ID, birth date, phone, address).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from backoffice import audit
from backoffice.auth.policy import may
from backoffice.auth.scope import scope_clause
from backoffice.errors import OutOfRole, OutOfScope
from backoffice.extensions import db
from backoffice.identifiers import clean_id_number
from backoffice.models import Organization, Person, Recovery, Staff, TestResult, Vaccination
from backoffice.health import status as health
from backoffice.timeutil import now_utc

SIGNED_SCAN, WARD = "signed_scan", "ward"
# How far ahead "green until" looks; a status green beyond it has no end date to show (e.g. vaccinated).
GREEN_HORIZON_DAYS = 366

_S = Staff.__table__
# Built once (the scan hot path): the unique index (organization_id, id_number) answers it.
_PENDING = select(_S.c.id).where(_S.c.organization_id == bindparam("org"), _S.c.id_number == bindparam("idn"),
                                 _S.c.person_id.is_(None), _S.c.active.is_(True)).limit(1)


class LinkNotFound(OutOfScope):
    """No pending link with that id in the user's reach (the view answers 404)."""


def typed_id_number(value: str | None) -> str | None:
    """The ID number as the organization typed it, normalised (CCCD/CMND/passport format); ValueError when
    malformed. Format only: the registry is never asked."""
    if value is None or not str(value).strip():
        return None
    return clean_id_number(str(value))[0]


def unlink_fields() -> dict[str, Any]:
    """The values of a row that is not (or no longer) linked."""
    return {"person_id": None, "link_method": None, "linked_at": None, "linked_by_id": None,
            "link_rejected_at": None}


def typed_id_changed(staff: Staff) -> None:
    """A staff row whose typed ID number changed is a different claim: any link or ward decision is dropped."""
    for name, value in unlink_fields().items():
        setattr(staff, name, value)


def link(staff: Staff, person_id: int, method: str, *, actor: Any, now: datetime, **detail: Any) -> bool:
    """Link `staff` to `person_id` (in the caller's transaction), audited; False when the organization already has
    that person linked to another row (one person, one staff row per organization). The one place a staff row is
    linked: a signed scan, a ward officer's confirmation, the demo seed."""
    taken = db.session.scalar(select(Staff.id).where(Staff.organization_id == staff.organization_id,
                                                     Staff.person_id == person_id, Staff.id != staff.id))
    if taken is not None:
        return False
    staff.person_id, staff.link_method, staff.linked_at = person_id, method, now
    staff.linked_by_id = getattr(actor, "id", None)
    staff.link_rejected_at = None
    audit.record("staff.link", staff, actor=actor,
                 after={"method": method, "person_id": person_id, "linked_at": now.isoformat(), **detail})
    return True


def after_signed_scan(connection, *, organization_id: int, person_id: int, id_number: str | None,
                      checkpoint_id: int | None, user: Any = None, device_token_id: int | None = None,
                      now: datetime | None = None) -> int | None:
    """The person scanned their own signed personal QR at `checkpoint_id` of `organization_id`: link the
    organization's pending staff row carrying their ID number, if there is one. Returns the linked staff id.

    `connection` is the scan's own (a device's or the session's): the lookup runs on it, so a scan of a person
    not pending costs that one indexed query and nothing else."""
    if checkpoint_id is None or not id_number:
        return None
    staff_id = connection.execute(_PENDING, {"org": organization_id, "idn": id_number}).scalar()
    if staff_id is None:
        return None
    now = now or now_utc()
    staff = db.session.get(Staff, staff_id)
    if staff is None or staff.person_id is not None:
        return None
    try:
        linked = link(staff, person_id, SIGNED_SCAN, actor=user, now=now, checkpoint_id=checkpoint_id,
                       device_token_id=device_token_id)
        db.session.commit()
    except IntegrityError:
        # Two scans linking at once (the unique (organization, person) pair): the other one won; the scan stands.
        db.session.rollback()
        return None
    return staff_id if linked else None


# --- the ward officer's queue ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class PendingLink:
    staff_id: int
    organization: str
    staff_name: str
    position: str
    resident_name: str
    birth_date: date | None
    created_at: datetime
    rejected: bool


def _pending_query(user: Any):
    """Pending staff rows whose typed ID number is a resident of the officer's ward (the officer's Person scope),
    and that the organization has not already linked to that resident."""
    other = aliased(Staff)
    return (select(Staff, Organization.name, Person)
            .join(Person, Person.id_number == Staff.id_number)
            .join(Organization, Organization.id == Staff.organization_id)
            .where(scope_clause(Person, user), Staff.person_id.is_(None), Staff.active.is_(True),
                   ~exists().where(and_(other.organization_id == Staff.organization_id,
                                        other.person_id == Person.id))))


def _officer(user: Any) -> None:
    if not may(user, "staff.link_queue"):
        raise OutOfRole("only a ward officer confirms staff links", "staff.link_queue")


def pending_for_ward(user: Any, *, include_rejected: bool = False, limit: int = 200) -> list[PendingLink]:
    _officer(user)
    stmt = _pending_query(user)
    if not include_rejected:
        stmt = stmt.where(Staff.link_rejected_at.is_(None))
    rows = db.session.execute(stmt.order_by(Staff.created_at, Staff.id).limit(limit)).all()
    return [PendingLink(s.id, org, s.full_name, s.position, p.full_name, p.birth_date, s.created_at,
                        s.link_rejected_at is not None) for s, org, p in rows]


def _pending_row(user: Any, staff_id: int) -> tuple[Staff, Person]:
    _officer(user)
    row = db.session.execute(_pending_query(user).where(Staff.id == staff_id)).first()
    if row is None:
        raise LinkNotFound(staff_id)
    return row[0], row[2]


def confirm_link(user: Any, staff_id: int) -> Staff:
    """The ward officer confirms that the resident works there: the row is linked ('ward')."""
    staff, person = _pending_row(user, staff_id)
    if not link(staff, person.id, WARD, actor=user, now=now_utc(), ward_code=user.ward_code):
        db.session.rollback()
        raise LinkNotFound(staff_id)
    db.session.commit()
    return staff


def reject_link(user: Any, staff_id: int) -> Staff:
    """The ward officer declines: the row leaves the queue, unlinked (the organization is not told why, and
    sees the same 'awaiting verification' as before: a refusal would tell it that the ID is a resident's)."""
    staff, person = _pending_row(user, staff_id)
    staff.link_rejected_at = now_utc()
    audit.record("staff.link_rejected", staff, actor=user, after={"person_id": person.id,
                                                                  "ward_code": user.ward_code})
    db.session.commit()
    return staff


# --- what an organization sees of its linked staff ------------------------------------------------------------

@dataclass
class StaffHealth:
    staff_id: int
    full_name: str
    position: str
    id_number: str | None  # what the organization typed
    link_method: str | None
    linked_at: datetime | None
    doses: list[tuple[str, date]] = field(default_factory=list)
    latest_test: tuple[str, str, datetime] | None = None  # kind, result, tested at
    latest_recovery: date | None = None
    colour: str = ""
    reason: str = ""
    green_until: date | None = None
    person_id: int | None = None  # for the read audit only; never shown


def green_until(doses: list[tuple[str, date]], recoveries: list[date], at: datetime) -> date | None:
    """The last day the records in hand keep the status green, by asking the rules (never re-implementing
    them); None when not green now or still green after the horizon. Assumes, as any rule on these facts does,
    that with no new record a status that turned black stays black (a recovery's green expires; a dose's
    does not)."""
    if not health.status_from(doses, recoveries, at).green:
        return None
    if health.status_from(doses, recoveries, at + timedelta(days=GREEN_HORIZON_DAYS)).green:
        return None
    low, high = 0, GREEN_HORIZON_DAYS  # green at low, black at high
    while high - low > 1:
        middle = (low + high) // 2
        if health.status_from(doses, recoveries, at + timedelta(days=middle)).green:
            low = middle
        else:
            high = middle
    return health.scan_day(at + timedelta(days=low))


def health_summaries(user: Any, *, at: datetime | None = None) -> list[StaffHealth]:
    """The organization admin's linked, active staff with their health summary (the records are read here for
    them only: Person and its health records stay out of the organization's scope)."""
    if not may(user, "staff.health") or not user.organization_id:
        raise OutOfRole("an organization's own staff only", "staff.health")
    at = at or now_utc()
    day = health.scan_day(at)
    staff = list(db.session.scalars(select(Staff).where(
        Staff.organization_id == user.organization_id, Staff.active.is_(True), Staff.person_id.is_not(None))
        .order_by(Staff.full_name, Staff.id)))
    ids = [s.person_id for s in staff]
    doses: dict[int, list[tuple[str, date]]] = {}
    for pid, vaccine, on in db.session.execute(
            select(Vaccination.person_id, Vaccination.vaccine, Vaccination.vaccinated_on)
            .where(Vaccination.person_id.in_(ids), Vaccination.vaccinated_on <= day)
            .order_by(Vaccination.person_id, Vaccination.vaccinated_on)):
        doses.setdefault(pid, []).append((vaccine, on))
    recovered = dict(db.session.execute(select(Recovery.person_id, func.max(Recovery.recovered_on))
                                        .where(Recovery.person_id.in_(ids), Recovery.recovered_on <= day)
                                        .group_by(Recovery.person_id)).all())
    latest = select(TestResult.person_id, func.max(TestResult.tested_at).label("at")).where(
        TestResult.person_id.in_(ids), TestResult.tested_at <= at).group_by(TestResult.person_id).subquery()
    tests = {pid: (kind, result, when) for pid, kind, result, when in db.session.execute(
        select(TestResult.person_id, TestResult.kind, TestResult.result, TestResult.tested_at)
        .join(latest, and_(latest.c.person_id == TestResult.person_id, latest.c.at == TestResult.tested_at)))}
    out = []
    for s in staff:
        person_doses = doses.get(s.person_id, [])
        recoveries = [recovered[s.person_id]] if s.person_id in recovered else []
        status = health.status_from(person_doses, recoveries, at)
        out.append(StaffHealth(s.id, s.full_name, s.position, s.id_number, s.link_method, s.linked_at,
                               person_doses, tests.get(s.person_id), recovered.get(s.person_id), status.colour,
                               status.reason, green_until(person_doses, recoveries, at), s.person_id))
    return out
