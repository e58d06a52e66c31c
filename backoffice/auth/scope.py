"""The one place that decides which rows a user may see.

`scope(query, user)` narrows any SQLAlchemy `Select` or legacy `Query` to the rows of its model that the
user may read. Every read path — admin lists, counts, details, edits, deletes, bulk actions, exports,
dropdowns, ajax lookups, reports, import matching, the API — goes through it. A model without a rule
here is a programming error and raises, so nothing is ever shown unscoped by accident.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, TypeVar

from sqlalchemy import ColumnElement, Select, false, select, true
from sqlalchemy.orm import Query

from backoffice.domain import Role
from backoffice.extensions import db
from backoffice.models import (
    Assessment, AuditLog, CheckIn, CheckInDaily, Checkpoint, CriteriaSetVersion, DeviceToken, District,
    ImportRecord, Location, Organization, Person, PersonalQRIssue, Recovery, SigningKey, Staff, TestResult,
    TraceAlert, TraceCase, TraceReferral, User, UserSession, Vaccination, Ward,
)

Q = TypeVar("Q", Select, Query)
Rule = Callable[[Any], ColumnElement[bool]]


def _active(user: Any) -> bool:
    return bool(user is not None and getattr(user, "is_authenticated", False) and getattr(user, "active", False))


def organizations_clause(user: Any) -> ColumnElement[bool]:
    """Organizations the user may read."""
    role = user.role
    if role == Role.CITY_ADMIN:
        return true()
    if role == Role.INSPECTOR:
        clause = Organization.district_code.in_(user.district_codes)
        if user.sector:
            clause = clause & (Organization.sector == user.sector)
        return clause
    if role == Role.WARD_OFFICER:
        return Organization.ward_code == user.ward_code
    if role in (Role.ORG_ADMIN, Role.CHECKPOINT_STAFF):
        return Organization.id == user.organization_id
    return false()


def _by_organization(column: Any) -> Rule:
    """Rule for a model that belongs to an organization through `column`."""

    def rule(user: Any) -> ColumnElement[bool]:
        if user.role == Role.CITY_ADMIN:
            return true()
        if user.role in (Role.ORG_ADMIN, Role.CHECKPOINT_STAFF):
            return column == user.organization_id
        return column.in_(select(Organization.id).where(organizations_clause(user)))

    return rule


def _districts(user: Any) -> ColumnElement[bool]:
    if user.role == Role.CITY_ADMIN:
        return true()
    if user.role == Role.INSPECTOR:
        return District.code.in_(user.district_codes)
    if user.role == Role.WARD_OFFICER:
        return District.code == select(Ward.district_code).where(Ward.code == user.ward_code).scalar_subquery()
    return District.code == select(Organization.district_code).where(
        Organization.id == user.organization_id).scalar_subquery()


def _wards(user: Any) -> ColumnElement[bool]:
    if user.role == Role.CITY_ADMIN:
        return true()
    if user.role == Role.INSPECTOR:
        return Ward.district_code.in_(user.district_codes)
    if user.role == Role.WARD_OFFICER:
        return Ward.code == user.ward_code
    # An organization may move within its district (it may not change district).
    return Ward.district_code == select(Organization.district_code).where(
        Organization.id == user.organization_id).scalar_subquery()


def persons_clause(user: Any) -> ColumnElement[bool]:
    role = user.role
    if role == Role.CITY_ADMIN:
        return true()
    if role == Role.INSPECTOR:
        return Person.ward_code.in_(select(Ward.code).where(Ward.district_code.in_(user.district_codes)))
    if role == Role.WARD_OFFICER:
        return Person.ward_code == user.ward_code
    # Organization admins and checkpoint staff read no registry row, not even their staff's or visitors': letter
    # 1913 gives them their staff's health summary (backoffice.staff.service, for links the person proved) and
    # what each scan showed (stored on the check-in), never the record. Typing an ID number, a scan or a
    # check-in must not widen this (issue 14).
    return false()


def _by_person(column: Any) -> Rule:
    def rule(user: Any) -> ColumnElement[bool]:
        if user.role == Role.CITY_ADMIN:
            return true()
        if user.role in (Role.ORG_ADMIN, Role.CHECKPOINT_STAFF):
            return false()  # as persons_clause: no registry row, so none of its health records either
        return column.in_(select(Person.id).where(persons_clause(user)))

    return rule


def _users(user: Any) -> ColumnElement[bool]:
    if user.role == Role.CITY_ADMIN:
        return true()
    if user.role == Role.ORG_ADMIN:
        return (User.organization_id == user.organization_id) | (User.id == user.id)
    return User.id == user.id


def _audit(user: Any) -> ColumnElement[bool]:
    if user.role == Role.CITY_ADMIN:
        return true()
    if user.role == Role.INSPECTOR:
        return AuditLog.district_code.in_(user.district_codes)
    if user.role == Role.ORG_ADMIN:
        return AuditLog.organization_id == user.organization_id
    return AuditLog.actor_id == user.id


def _checkins(user: Any) -> ColumnElement[bool]:
    if user.role == Role.CHECKPOINT_STAFF:
        return CheckIn.checkpoint_id.in_([c.id for c in user.checkpoints]) if user.checkpoints else \
            CheckIn.organization_id == user.organization_id
    return _by_organization(CheckIn.organization_id)(user)


def _imports(user: Any) -> ColumnElement[bool]:
    if user.role == Role.CITY_ADMIN:
        return true()
    if user.role == Role.INSPECTOR:
        return (ImportRecord.created_by_id == user.id) | ImportRecord.district_code.in_(user.district_codes)
    if user.role == Role.WARD_OFFICER:
        return ImportRecord.ward_code == user.ward_code
    if user.role == Role.ORG_ADMIN:
        return ImportRecord.organization_id == user.organization_id
    return false()


def _tracers_district(model: type) -> Rule:
    """Tracing's rows by their `district_code`: the city reads all, an inspector those of their districts, no one
    else any. A case's district is the person's; a referral's the contact's, and one without a ward (NULL) goes
    to the city only."""
    def clause(user: Any) -> ColumnElement[bool]:
        if user.role == Role.CITY_ADMIN:
            return true()
        if user.role == Role.INSPECTOR:
            return model.district_code.in_(user.district_codes)
        return false()
    return clause


def _city_admin_only(user: Any) -> ColumnElement[bool]:
    return true() if user.role == Role.CITY_ADMIN else false()


RULES: dict[type, Rule] = {
    Organization: organizations_clause,
    Location: _by_organization(Location.organization_id),
    Checkpoint: _by_organization(Checkpoint.organization_id),
    DeviceToken: _by_organization(DeviceToken.organization_id),
    Staff: _by_organization(Staff.organization_id),
    Assessment: _by_organization(Assessment.organization_id),
    CheckInDaily: _by_organization(CheckInDaily.organization_id),
    TraceAlert: _by_organization(TraceAlert.organization_id),
    CheckIn: _checkins,
    District: _districts,
    Ward: _wards,
    Person: persons_clause,
    Vaccination: _by_person(Vaccination.person_id),
    TestResult: _by_person(TestResult.person_id),
    Recovery: _by_person(Recovery.person_id),
    PersonalQRIssue: _by_person(PersonalQRIssue.person_id),
    User: _users,
    UserSession: lambda user: true() if user.role == Role.CITY_ADMIN else UserSession.user_id == user.id,
    AuditLog: _audit,
    ImportRecord: _imports,
    TraceCase: _tracers_district(TraceCase),
    TraceReferral: _tracers_district(TraceReferral),
    SigningKey: _city_admin_only,
    CriteriaSetVersion: lambda user: true(),
}


@dataclass(frozen=True)
class ScopeSubject:
    """The plain values a user's scope is decided from, read once: safe to hand to another thread, where the
    ORM user (whose `district_codes` loads a relationship) must not be touched."""
    id: int | None
    username: str
    role: str
    active: bool
    is_authenticated: bool
    sector: str | None
    ward_code: int | None
    organization_id: int | None
    district_codes: tuple[int, ...]


def subject(user: Any) -> ScopeSubject:
    return ScopeSubject(getattr(user, "id", None), getattr(user, "username", ""), user.role,
                        bool(getattr(user, "active", False)), bool(getattr(user, "is_authenticated", False)),
                        getattr(user, "sector", None), getattr(user, "ward_code", None),
                        getattr(user, "organization_id", None), tuple(getattr(user, "district_codes", ()) or ()))


def scope_clause(model: type, user: Any) -> ColumnElement[bool]:
    """The WHERE clause limiting `model` to what `user` may read (false for anonymous or inactive users)."""
    if not _active(user):
        return false()
    try:
        rule = RULES[model]
    except KeyError:
        raise LookupError(f"no scope rule for {model.__name__}; add one to backoffice.auth.scope.RULES") from None
    return rule(user)


def _model_of(query: Select | Query) -> type:
    descriptions = query.column_descriptions
    entity = descriptions[0].get("entity") if descriptions else None
    if entity is None:
        raise LookupError("scope() needs a query whose first column belongs to a model; pass model=")
    return entity


def scope(query: Q, user: Any, model: type | None = None) -> Q:
    """Narrow `query` (a Select or a legacy Query) to the rows of `model` (default: its first entity)
    that `user` may read."""
    return query.where(scope_clause(model or _model_of(query), user))


def in_scope(model: type, pk: Any, user: Any) -> bool:
    """Whether the row `pk` of `model` is readable by `user`, asked of the database (so pending changes
    flushed in the current transaction count: this is how forged writes are caught)."""
    primary = model.__mapper__.primary_key[0]
    stmt = select(primary).where(primary == pk, scope_clause(model, user))
    return db.session.execute(stmt).first() is not None


def get_in_scope_or_404(model: type, record_id: Any, user: Any) -> Any:
    """The row `record_id` of `model` when `user` may read it. Otherwise `OutOfScope`, which answers 404 whether
    the row is missing, outside the user's scope, or named by something that cannot be an id ("abc")."""
    from backoffice.errors import OutOfScope
    primary = model.__mapper__.primary_key[0]
    try:
        key = primary.type.python_type(record_id)
    except (TypeError, ValueError):
        raise OutOfScope(code=f"{model.__tablename__}.not_found") from None
    record = db.session.scalar(select(model).where(primary == key, scope_clause(model, user)))
    if record is None:
        raise OutOfScope(code=f"{model.__tablename__}.not_found")
    return record
