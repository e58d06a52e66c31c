"""Recording scans: parse → verify → resolve the person → status at the scan time → check-in (deduplicated).

`record_scan` is the one verb behind the reception page, the device API and the self check-in page. A rejected
scan raises `ScanRejected` after writing an audit entry of the attempt; nothing else is recorded.

Deduplication: at most one open stay per (person, location) is enforced by the partial unique index
`uq_checkins_open_stay`. A re-scan within `BACKOFFICE_CHECKIN_DEDUP_MINUTES` (default 30) extends that stay; a
later one closes it and opens a new one, both in one INSERT … ON CONFLICT on that index. Two scans arriving at
once cannot both insert: the second one's conflict extends the first one's row (PostgreSQL makes it wait for the
first commit). Should a unique violation still escape (a stale stay closed by two scans at once), the
transaction is rolled back and retried.

Refused at the door (issue 22, point 3): a black person at an organization whose policy does not admit black
visitors (`Organization.admit_black`, default not) is recorded as a door scan, not a stay: a row with
`admitted` false that ends as it starts (checked_out_at = checked_in_at, checkout_reason "refused"), never open,
never extended, never "on site", and found by tracing as a zero-length visit at that instant. Staff follow the
same policy: letter 1913's black means the same at work, and whether workers are let in is the organization's
one decision either way.

Visitors the registry does not know (point 6): a valid national 1405 text scanned at a checkpoint whose ID number
nobody has is recorded with what the text carries (`declare_visitor`) and answered as any known person without
data is: black, "no vaccination data", the name as the 1405 text writes it (for known persons too, so the answer
never tells a registry hit by its diacritics). A known ID with another name or birth date stays refused
(identity_mismatch), and so does a text with only a birth year, whether or not its ID is known.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import bindparam, case, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from backoffice import audit
from backoffice.auth.scope import in_scope
from backoffice.domain import Role, ScanMethod
from backoffice.database import (
    HotStatement, commit, dialect, insert_on_conflict, is_postgres, rollback, serialized_writes,
)
from backoffice.extensions import db
from backoffice.models import CheckIn, Checkpoint, DeviceToken, Location, Organization, Person, User
from backoffice.models.people import mask_id, new_qr_ref
from backoffice.health import status as health
from backoffice.scanning import scan_reads
from backoffice.health import reasons as stored_reasons
from backoffice.scanning.checkins import auto_checkout, check_out, purge_checkins  # noqa: F401  (the verbs live here too)
from backoffice.scanning.credentials import Credential, parse_scan_text
from backoffice.scanning.credentials.national import normalise_name
from backoffice.observability import metrics
from backoffice.scanning.rejections import ScanRejected
from backoffice.scanning.person_records import (  # noqa: F401  (identity_matches: part of this module's interface)
    IdentityMismatch, PersonRecords, Prefetched, find_person as _find_person, identity_matches,
)
from backoffice.scanning.points import ScanPoint
from backoffice.staff import service as staff_links
from backoffice.timeutil import now_utc

if TYPE_CHECKING:
    from backoffice.scanning.devices import DeviceAuth

RETRIES = 4

# The hot path's statements are built once, with bind parameters: building SQLAlchemy constructs per scan costs
# more than running them. Core table statements, no ORM unit of work.
_T = CheckIn.__table__
_EXIT = update(_T).where(
    _T.c.person_id == bindparam("pid"), _T.c.location_id == bindparam("lid"), _T.c.checked_out_at.is_(None)
).values(checked_out_at=bindparam("now"), last_seen_at=bindparam("now"), checkout_reason="exit").returning(_T.c.id)
_CLOSE_OPEN = update(_T).where(
    _T.c.person_id == bindparam("pid"), _T.c.location_id == bindparam("lid"), _T.c.checked_out_at.is_(None)
).values(checked_out_at=bindparam("now"), checkout_reason="auto")


def _enter_statement(name: str, explicit: bool = False) -> object:
    """Open a stay, or extend the open one when it was last seen since `cutoff`: one INSERT … ON CONFLICT on the
    open-stay index (PostgreSQL and SQLite ≥ 3.35 both have it). Returns (id, scan_count): 1 for a new stay. No
    row back means the open stay is older than the window (it was never closed). `explicit`: the columns as
    bind parameters in the statement itself (inside a CTE, the execution cannot pick them)."""
    stmt = insert_on_conflict(
        _T, conflict=[_T.c.person_id, _T.c.location_id], index_where=_T.c.checked_out_at.is_(None),
        # Never backwards: a scan that lost the race to open the stay extends it with its own, earlier, time.
        update=lambda new: {"last_seen_at": case((_T.c.last_seen_at < new.last_seen_at, new.last_seen_at),
                                                 else_=_T.c.last_seen_at),
                            "scan_count": _T.c.scan_count + 1},
        where=_T.c.last_seen_at >= bindparam("cutoff", type_=_T.c.last_seen_at.type), bind=name)
    if explicit:
        stmt = stmt.values({name: bindparam(name, type_=_T.c[name].type) for name in _ENTER_COLUMNS})
    return stmt.returning(_T.c.id, _T.c.scan_count)


_ENTER_COLUMNS = ["person_id", "checked_in_at", "last_seen_at", "status_colour", "status_reason", "status_outcome",
                  "status_params", "rule_id", "rule_version", "method", "signed", "is_staff", "admitted",
                  "scan_count", "location_id", "organization_id", "checkpoint_id", "recorded_by_id",
                  "device_token_id"]
_ENTER = {name: HotStatement(_enter_statement(name), _ENTER_COLUMNS) for name in ("postgresql", "sqlite")}
# PostgreSQL: the check-in and its audited read in one statement (see scanning.scan_reads for why both).
_ENTER_READ = HotStatement(scan_reads.with_read(_enter_statement("postgresql", explicit=True), "id",
                                                "scan_count"))
_EXIT_READ = HotStatement(scan_reads.with_read(_EXIT, "id"))
# A refused door scan: a row of its own, closed as it opens (no ON CONFLICT: it never is an open stay).
_REFUSE_COLUMNS = _ENTER_COLUMNS + ["checked_out_at", "checkout_reason"]


def _refuse_statement(explicit: bool = False) -> object:
    stmt = insert(_T)
    if explicit:
        stmt = stmt.values({name: bindparam(name, type_=_T.c[name].type) for name in _REFUSE_COLUMNS})
    return stmt.returning(_T.c.id)


_REFUSE = _refuse_statement()
_REFUSE_READ = HotStatement(scan_reads.with_read(_refuse_statement(explicit=True), "id"))
_O = Organization.__table__
# Read only for black scans (the minority): green ones never need the policy.
_POLICY = HotStatement(select(_O.c.admit_black, _O.c.black_instruction).where(_O.c.id == bindparam("org")))
_P = Person.__table__


@dataclass
class ScanResult:
    colour: str
    reason: str
    rule_id: str
    rule_version: str
    name: str
    id_masked: str  # the last four characters only, and never beside a birth date or year (issue 14)
    checkin_id: int | None
    action: str  # check_in, extended, check_out, no_open_stay
    signed: bool
    staff: bool
    scanned_at: datetime
    location: str = ""
    checkpoint: str = ""
    admitted: bool = True  # False: refused at the door (recorded for tracing, not as a stay)
    instruction: str = ""  # what follows, on a black screen: the organization's text or "Not eligible to enter"

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
    metrics.scan_counted("refused", code)
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


# --- the verb --------------------------------------------------------------------------------------

def record_scan(text: str, *, checkpoint: Checkpoint | None = None, location: Location | None = None,
                point: ScanPoint | None = None, method: str, user: User | None = None,
                device_token: DeviceToken | DeviceAuth | None = None, now: datetime | None = None,
                prefetched: Prefetched | None = None, connection: Connection | None = None) -> ScanResult:
    """Record one scan at a checkpoint (staff, device) or a location (self check-in); see the module doc.

    `prefetched`: the person a device's token lookup already read for the reference in the text, used when
    the verified payload names that very reference on that very day. `connection`: a device's, from
    `database.scan_connection()`; else the ORM session's transaction."""
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
    # Core statements on a connection (the session's, or a device's own), without the ORM's per-statement work.
    own = connection
    connection = own or db.session.connection()
    day = health.scan_day(now)
    if prefetched is not None and prefetched.matches(parsed, day):
        person = prefetched.records
    else:
        try:
            person = _find_person(connection, parsed, org_id, day)
        except IdentityMismatch:
            reject("identity_mismatch", method=method, user=user, device_token=device_token,
                   organization_id=org_id, signed=False, **where)
    if person is None:
        if parsed.kind == "national" and point.checkpoint_id is not None and parsed.id_number:
            # At a checkpoint, staff see the visitor and their ID; the anonymous self check-in declares nobody.
            if parsed.birth_date is None or len(parsed.birth_date) != 10:
                # As a known ID's text with only a year: never matches (no answer tells the ID is known).
                reject("identity_mismatch", method=method, user=user, device_token=device_token,
                       organization_id=org_id, signed=False, **where)
            try:
                with serialized_writes():
                    person = declare_visitor(connection, parsed, org_id, day, now=now, user=user,
                                             device_token=device_token, method=method)
                    # Its own transaction: the check-in's retry below must not roll the person back.
                    commit(own)
                connection = own or db.session.connection()
            except IdentityMismatch:
                reject("identity_mismatch", method=method, user=user, device_token=device_token,
                       organization_id=org_id, signed=False, **where)
        else:
            reject("unknown_person", method=method, user=user, device_token=device_token,
                   organization_id=org_id, signed=parsed.signed, **where)
    status = health.status_from(person.doses, person.recovered, now)
    reason = status.reason
    admitted, instruction = True, ""
    if status.colour != "green" and not point.exit:
        admitted, instruction = _black_policy(connection, org_id)
    ids = {"location_id": point.location_id, "organization_id": org_id, "checkpoint_id": point.checkpoint_id,
           "recorded_by_id": user.id if user is not None else None,
           "device_token_id": device_token.id if device_token is not None else None}
    read = scan_reads.values(now=now, person_id=person.id, method=method, organization_id=org_id,
                             location_id=point.location_id, checkpoint_id=point.checkpoint_id, user=user,
                             device_token=device_token, dialect=dialect(connection))
    for attempt in range(RETRIES):
        try:
            with serialized_writes():
                checkin_id, action = (_exit(connection, person.id, point.location_id, now, read) if point.exit else
                                      _enter(connection, person.id, ids, status, reason, parsed.signed, method,
                                             person.is_staff, now, read, admitted=admitted))
                commit(own)
            break
        except IntegrityError:
            # Another scan of the same person opened the stay first: roll back and extend theirs.
            rollback(own)
            if attempt == RETRIES - 1:
                raise
            connection = own or db.session.connection()
    if parsed.kind == "signed" and not person.is_staff and point.checkpoint_id is not None:
        # The person's own signed QR at this organization's checkpoint is the proof a pending staff row needs
        # (backoffice.staff); for anyone not pending this costs one indexed lookup.
        staff_links.after_signed_scan(own or db.session.connection(), organization_id=org_id, person_id=person.id,
                                      id_number=person.id_number, checkpoint_id=point.checkpoint_id, user=user,
                                      device_token_id=device_token.id if device_token is not None else None, now=now)
    # A national text's name as the text writes it, whoever it is: the registry's spelling would tell a hit.
    name = person.full_name if parsed.kind == "signed" else normalise_name(parsed.full_name or "")
    metrics.scan_counted(status.colour, action)
    return ScanResult(colour=status.colour, reason=reason, rule_id=status.rule_id,
                      rule_version=status.rule_version, name=name, id_masked=mask_id(person.id_number),
                      checkin_id=checkin_id,
                      action=action, signed=parsed.signed, staff=person.is_staff, scanned_at=now,
                      location=point.location_name, checkpoint=point.checkpoint_name, admitted=admitted,
                      instruction=instruction)


def _black_policy(connection, organization_id: int) -> tuple[bool, str]:
    """(admitted, instruction) for a black scan at this organization: its policy, and its own text or ours."""
    rows = _POLICY.rows(connection, {"org": organization_id})
    admit, text = (bool(rows[0].admit_black), (rows[0].black_instruction or "").strip()) if rows else (False, "")
    if text:
        return admit, text
    return admit, (_("Let in under this organization's policy") if admit else _("Not eligible to enter"))


def declare_visitor(connection, parsed: Credential, organization_id: int, day: date, *, now: datetime,
                    user: User | None, device_token, method: str) -> PersonRecords:
    """A person the registry does not know, as their national text declares them at a checkpoint: ID number,
    name (as the text writes it), birth date, QID; no ward, no health record. Audited. Two scans of the same
    new visitor at once: the second finds the first one's row (and is matched against it)."""
    id_type = "passport" if parsed.id_number[:1].isalpha() else "cmnd" if len(parsed.id_number) == 9 else "cccd"
    values = {"id_number": parsed.id_number, "id_type": id_type, "qid": parsed.qid,
              "full_name": normalise_name(parsed.full_name or "")[:128],
              "birth_date": date.fromisoformat(parsed.birth_date), "address": "", "ward_code": None,
              "qr_ref": new_qr_ref(), "declared_at_checkpoint": True, "created_at": now,
              "updated_at": now}
    created = connection.execute(insert_on_conflict(_P, bind=connection).values(values)
                                 .returning(_P.c.id)).first()
    found = _find_person(connection, parsed, organization_id, day)  # raises IdentityMismatch on a race's row
    if found is None:  # a QID of the text is someone else's: never merge two people
        raise IdentityMismatch()
    if created is not None:
        entry = scan_reads.values(now=now, person_id=found.id, method=method, organization_id=organization_id,
                                  location_id=None, checkpoint_id=None, user=user, device_token=device_token,
                                  dialect="sqlite")  # the JSON column serialises the dict on either backend
        entry.update({"read_action": "persons.declare", "read_after": {"why": "checkpoint_scan", "method": method,
                                                                        "declared_at_checkpoint": True}})
        connection.execute(scan_reads.INSERT, entry)
    return found


def _enter(connection, person_id, ids, status, reason, signed, method, is_staff, now, read, *,
           admitted: bool = True):
    pg = is_postgres(connection)
    enter = _ENTER["postgresql" if pg else "sqlite"]
    values = {"person_id": person_id, "checked_in_at": now, "last_seen_at": now, "status_colour": status.colour,
              "status_reason": reason[:255], "status_outcome": status.outcome[:32],
              # The raw driver takes JSON text on PostgreSQL; elsewhere the JSON type serialises the dict.
              "status_params": (stored_reasons.params_json(status) if pg else stored_reasons.params_of(status)),
              "rule_id": status.rule_id, "rule_version": status.rule_version,
              "method": method, "signed": signed, "is_staff": bool(is_staff), "admitted": admitted, "scan_count": 1,
              "cutoff": now - _dedup_window(), **ids}
    if not admitted:
        del values["cutoff"]
        values.update(checked_out_at=now, checkout_reason="refused")
        if pg:
            rows = _REFUSE_READ.rows(connection, {**values, **read})
        else:
            rows = connection.execute(_REFUSE, values).all()
            connection.execute(scan_reads.INSERT, read)
        return rows[0].id, "refused"
    if pg:
        rows = _ENTER_READ.rows(connection, {**values, **read})  # the read is written even with no row back
    else:
        rows = enter.rows(connection, values)
        connection.execute(scan_reads.INSERT, read)
    if not rows:
        # The open stay was last seen before the window and never closed (no exit scan): it ends now, and a new
        # one starts. In autocommit mode these are two transactions; should the second fail, the first is what
        # the automatic check-out would have done to that stay anyway, and the scan is answered as failed.
        connection.execute(_CLOSE_OPEN, {"pid": person_id, "lid": ids["location_id"], "now": now})
        rows = enter.rows(connection, values)
    row = rows[0]
    return row.id, "check_in" if row.scan_count == 1 else "extended"


def _exit(connection, person_id, location_id, now, read):
    params = {"pid": person_id, "lid": location_id, "now": now}
    if is_postgres(connection):
        rows = _EXIT_READ.rows(connection, {**params, **read})
    else:
        rows = connection.execute(_EXIT, params).all()
        connection.execute(scan_reads.INSERT, read)
    return (rows[0].id, "check_out") if rows else (None, "no_open_stay")


def recent_checkins(user: User, checkpoint_ids: list[int], limit: int = 10) -> list[CheckIn]:
    """The last scans at the given checkpoints, within the user's scope."""
    from backoffice.auth.scope import scope
    if not checkpoint_ids:
        return []
    stmt = scope(select(CheckIn), user).where(CheckIn.checkpoint_id.in_(checkpoint_ids)) \
        .order_by(CheckIn.last_seen_at.desc(), CheckIn.id.desc()).limit(limit)
    return list(db.session.scalars(stmt))
