"""Recording scans: parse → verify → resolve the person → status at the scan time → check-in (deduplicated).

`record_scan` is the one verb behind the reception page, the device API and the self check-in page. A rejected
scan raises `ScanRejected` after writing an audit entry of the attempt; nothing else is recorded.

Deduplication: at most one open stay per (person, location) is enforced by the partial unique index
`uq_checkins_open_stay`. A re-scan within `BACKOFFICE_CHECKIN_DEDUP_MINUTES` (default 30) extends that stay; a
later one closes it and opens a new one, both in one INSERT … ON CONFLICT on that index. Two scans arriving at
once cannot both insert: the second one's conflict extends the first one's row (PostgreSQL makes it wait for the
first commit). Should a unique violation still escape (a stale stay closed by two scans at once), the
transaction is rolled back and retried.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from flask import current_app
from sqlalchemy import Date, and_, bindparam, case, exists, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from backoffice import audit
from backoffice.auth.scope import in_scope
from backoffice.domain import Role, ScanMethod
from backoffice.extensions import db, serialized_writes
from backoffice.models import (CheckIn, Checkpoint, DeviceToken, Location, Person, Recovery, Staff, User,
                               Vaccination)
from backoffice.models.people import mask_id
from backoffice.qr import health
from backoffice.qr.checkins import auto_checkout, check_out, purge_checkins  # noqa: F401  (the verbs live here too)
from backoffice.qr.payload import ParsedPayload, ScanRejected, parse_scan_text
from backoffice.qr.points import ScanPoint
from backoffice.timeutil import now_utc

if TYPE_CHECKING:
    from backoffice.qr.devices import DeviceAuth

RETRIES = 4

# The hot path's statements are built once, with bind parameters: building SQLAlchemy constructs per scan costs
# more than running them. Core table statements, no ORM unit of work.
_T = CheckIn.__table__
_OPEN_STAY = select(_T.c.id, _T.c.last_seen_at).where(
    _T.c.person_id == bindparam("pid"), _T.c.location_id == bindparam("lid"), _T.c.checked_out_at.is_(None))
_EXIT = update(_T).where(_T.c.id == bindparam("sid"), _T.c.checked_out_at.is_(None)).values(
    checked_out_at=bindparam("now"), last_seen_at=bindparam("now"), checkout_reason="exit")
_CLOSE_OPEN = update(_T).where(
    _T.c.person_id == bindparam("pid"), _T.c.location_id == bindparam("lid"), _T.c.checked_out_at.is_(None)
).values(checked_out_at=bindparam("now"), checkout_reason="auto")


def _enter_statement(dialect_insert) -> object:
    """Open a stay, or extend the open one when it was last seen since `cutoff`: one INSERT … ON CONFLICT on the
    open-stay index (PostgreSQL and SQLite ≥ 3.35 both have it). Returns (id, scan_count): 1 for a new stay. No
    row back means the open stay is older than the window (it was never closed)."""
    stmt = dialect_insert(_T)
    new_time = stmt.excluded.last_seen_at
    return stmt.on_conflict_do_update(
        index_elements=[_T.c.person_id, _T.c.location_id], index_where=_T.c.checked_out_at.is_(None),
        # Never backwards: a scan that lost the race to open the stay extends it with its own, earlier, time.
        set_={"last_seen_at": case((_T.c.last_seen_at < new_time, new_time), else_=_T.c.last_seen_at),
              "scan_count": _T.c.scan_count + 1},
        where=_T.c.last_seen_at >= bindparam("cutoff", type_=_T.c.last_seen_at.type),
    ).returning(_T.c.id, _T.c.scan_count)


_ENTER = {"postgresql": _enter_statement(postgresql.insert), "sqlite": _enter_statement(sqlite.insert)}
_P = Person.__table__
_S = Staff.__table__
_PERSON_COLUMNS = [_P.c.id, _P.c.full_name, _P.c.id_number, _P.c.birth_date, exists().where(
    _S.c.organization_id == bindparam("org"), _S.c.person_id == _P.c.id, _S.c.active.is_(True)).label("is_staff")]
_V, _R = Vaccination.__table__, Recovery.__table__
_DAY = bindparam("day", type_=Date())
_LAST_RECOVERY = select(func.max(_R.c.recovered_on)).where(
    _R.c.person_id == _P.c.id, _R.c.recovered_on <= _DAY).scalar_subquery()
# The person, whether they work here, their doses and their latest recovery up to the scan day, in one round
# trip: one row per dose (one row with empty dose columns when there is none).
_PERSON_BY = {name: select(*_PERSON_COLUMNS, _V.c.vaccine, _V.c.vaccinated_on, _LAST_RECOVERY.label("recovered_on"))
              .select_from(_P.outerjoin(_V, and_(_V.c.person_id == _P.c.id, _V.c.vaccinated_on <= _DAY)))
              .where(_P.c[name] == bindparam("value"))
              for name in ("qr_ref", "id_number", "qid")}


def _run(statement, params: dict):
    """Execute on the session's connection: its transaction, without the ORM session's per-statement work."""
    return db.session.connection().execute(statement, params)


@dataclass
class ScanResult:
    colour: str
    reason: str
    rule_id: str
    rule_version: str
    name: str
    id_masked: str
    birth_year: int | None
    checkin_id: int | None
    action: str  # check_in, extended, check_out, no_open_stay
    signed: bool
    staff: bool
    scanned_at: datetime
    location: str = ""
    checkpoint: str = ""

    def to_json(self) -> dict:
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}  # flat: asdict's deep copy costs
        data["scanned_at"] = self.scanned_at.isoformat()
        return data


def _dedup_window() -> timedelta:
    return timedelta(minutes=int(current_app.config.get("BACKOFFICE_CHECKIN_DEDUP_MINUTES", 30)))


def reject(code: str, *, method: str, user: User | None = None,
           device_token: DeviceToken | DeviceAuth | None = None,
           organization_id: int | None = None, entity_id: object = "", detail: str = "", **extra: object) -> None:
    """Audit a rejected attempt (in a transaction of its own, nothing else written) and raise."""
    db.session.rollback()
    after = {"reason": code, "method": method, **{k: v for k, v in extra.items() if v is not None}}
    if device_token is not None:
        after["device_token"] = device_token.id
        organization_id = organization_id or device_token.organization_id
    audit.record_now("scan.rejected", actor=user, entity_name="scans", entity_id=entity_id, after=after,
                     organization_id=organization_id)
    raise ScanRejected(code, detail)


# --- resolution ------------------------------------------------------------------------------------

def checkpoints_for(user: User) -> list[Checkpoint]:
    """Checkpoints a user may scan at: a staff member's assigned ones (or all of the organization when none
    are assigned), an organization admin's organization's. Active ones only."""
    stmt = select(Checkpoint).join(Location).where(Checkpoint.active.is_(True), Location.active.is_(True))
    if user.role == Role.CHECKPOINT_STAFF and user.checkpoints:
        stmt = stmt.where(Checkpoint.id.in_([c.id for c in user.checkpoints]))
    elif user.role in (Role.CHECKPOINT_STAFF, Role.ORG_ADMIN):
        stmt = stmt.where(Checkpoint.organization_id == user.organization_id)
    else:
        return []
    return list(db.session.scalars(stmt.order_by(Location.name, Checkpoint.name)))


def resolve_checkpoint(checkpoint_id: object, *, user: User | None, method: str) -> Checkpoint:
    """The checkpoint a staff session scans at; 404-style rejection when unknown or not the user's."""
    try:
        cid = int(checkpoint_id)
    except (TypeError, ValueError):
        reject("unknown_checkpoint", method=method, user=user, entity_id=str(checkpoint_id)[:32])
    checkpoint = db.session.get(Checkpoint, cid)
    allowed = checkpoint is not None and user is not None and in_scope(Checkpoint, cid, user) and (
        user.role == Role.ORG_ADMIN or (user.role == Role.CHECKPOINT_STAFF and (
            not user.checkpoints or cid in {c.id for c in user.checkpoints})))
    if not allowed:
        reject("unknown_checkpoint", method=method, user=user, entity_id=cid)
    return checkpoint


def _find_person(parsed: ParsedPayload, organization_id: int, day: date):
    """The scanned person — a row (id, full_name, id_number, birth_date, is_staff) — with their (vaccine, date)
    doses and latest recovery up to `day`, from one query; None when nobody matches."""
    lookups = [("qr_ref", parsed.qr_ref)] if parsed.kind == "signed" else [
        ("id_number", parsed.id_number), ("qid", parsed.qid)]
    for column, value in lookups:
        if value:
            rows = _run(_PERSON_BY[column], {"value": value, "org": organization_id, "day": day}).all()
            if rows:
                doses = [(r.vaccine, r.vaccinated_on) for r in rows if r.vaccinated_on is not None]
                recovered = [rows[0].recovered_on] if rows[0].recovered_on is not None else []
                return rows[0], doses, recovered
    return None


# --- the verb --------------------------------------------------------------------------------------

def record_scan(text: str, *, checkpoint: Checkpoint | None = None, location: Location | None = None,
                point: ScanPoint | None = None, method: str, user: User | None = None,
                device_token: DeviceToken | DeviceAuth | None = None, now: datetime | None = None) -> ScanResult:
    """Record one scan at a checkpoint (staff, device) or a location (self check-in); see the module doc."""
    now = now or now_utc()
    method = ScanMethod(method).value
    if point is None:
        if checkpoint is None and location is None:
            raise ValueError("record_scan needs a checkpoint, a location or a scan point")
        point = ScanPoint.at_checkpoint(checkpoint) if checkpoint is not None else ScanPoint.at_location(location)
    org_id = point.organization_id
    where = {"checkpoint": point.checkpoint_id, "location": point.location_id}
    if not point.checkpoint_active:
        reject("checkpoint_inactive", method=method, user=user, device_token=device_token, organization_id=org_id,
               entity_id=point.checkpoint_id, **where)
    if not point.open:
        reject("revoked_location", method=method, user=user, device_token=device_token, organization_id=org_id,
               entity_id=point.location_id, **where)
    try:
        parsed = parse_scan_text(text, now=now)
    except ScanRejected as exc:
        reject(exc.code, method=method, user=user, device_token=device_token, organization_id=org_id,
               detail=exc.detail, length=len(text or ""), kid=exc.audit_details.get("kid"), **where)
    found = _find_person(parsed, org_id, health.scan_day(now))
    if found is None:
        reject("unknown_person", method=method, user=user, device_token=device_token, organization_id=org_id,
               signed=parsed.signed, **where)
    person, doses, recovered = found
    status = health.status_from(doses, recovered, now)
    ids = {"location_id": point.location_id, "organization_id": org_id, "checkpoint_id": point.checkpoint_id,
           "recorded_by_id": user.id if user is not None else None,
           "device_token_id": device_token.id if device_token is not None else None}
    for attempt in range(RETRIES):
        try:
            with serialized_writes():
                checkin_id, action = (_exit(person.id, point.location_id, now) if point.exit else
                                      _enter(person.id, ids, status, parsed.signed, method, person.is_staff, now))
                db.session.commit()
            break
        except IntegrityError:
            # Another scan of the same person opened the stay first: roll back and extend theirs.
            db.session.rollback()
            if attempt == RETRIES - 1:
                raise
    return ScanResult(colour=status.colour, reason=status.reason, rule_id=status.rule_id,
                      rule_version=status.rule_version, name=person.full_name, id_masked=mask_id(person.id_number),
                      birth_year=person.birth_date.year if person.birth_date else None, checkin_id=checkin_id,
                      action=action, signed=parsed.signed, staff=bool(person.is_staff), scanned_at=now,
                      location=point.location_name, checkpoint=point.checkpoint_name)


def _open_stay(person_id: int, location_id: int) -> tuple[int, datetime] | None:
    row = _run(_OPEN_STAY, {"pid": person_id, "lid": location_id}).first()
    return (row.id, row.last_seen_at) if row else None


def _enter(person_id, ids, status, signed, method, is_staff, now):
    connection = db.session.connection()
    enter = _ENTER[connection.dialect.name]
    values = {"person_id": person_id, "checked_in_at": now, "last_seen_at": now, "status_colour": status.colour,
              "status_reason": status.reason[:255], "rule_id": status.rule_id, "rule_version": status.rule_version,
              "method": method, "signed": signed, "is_staff": bool(is_staff), "scan_count": 1,
              "cutoff": now - _dedup_window(), **ids}
    row = connection.execute(enter, values).first()
    if row is None:
        # The open stay was last seen before the window and never closed (no exit scan): it ends now, and a new
        # one starts.
        connection.execute(_CLOSE_OPEN, {"pid": person_id, "lid": ids["location_id"], "now": now})
        row = connection.execute(enter, values).one()
    return row.id, "check_in" if row.scan_count == 1 else "extended"


def _exit(person_id, location_id, now):
    open_stay = _open_stay(person_id, location_id)
    if open_stay is None:
        return None, "no_open_stay"
    _run(_EXIT, {"sid": open_stay[0], "now": now})
    return open_stay[0], "check_out"


def recent_checkins(user: User, checkpoint_ids: list[int], limit: int = 10) -> list[CheckIn]:
    """The last scans at the given checkpoints, within the user's scope."""
    from backoffice.auth.scope import scope
    if not checkpoint_ids:
        return []
    stmt = scope(select(CheckIn), user).where(CheckIn.checkpoint_id.in_(checkpoint_ids)) \
        .order_by(CheckIn.last_seen_at.desc(), CheckIn.id.desc()).limit(limit)
    return list(db.session.scalars(stmt))
