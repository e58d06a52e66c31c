"""Writing the audit log. Operations call `record()` inside their own transaction, so the entry
commits (or rolls back) with the change it describes. `record_now()` commits at once, for events
that change nothing else (a failed login, a denied request, a rejected scan). `read()` records that a
user was shown residents' records (pages, searches, lookups, exports, cards), for the residents' portal."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Iterable

from flask import has_request_context, request
from flask_login import current_user
from sqlalchemy import and_, inspect, insert, or_, select

from backoffice.extensions import db
from backoffice.models import AuditLog, User
from backoffice.models.audit import PersonRead
from backoffice.models.base import utcnow

_SECRET_FIELDS = {"password_hash", "token_hash", "private_key", "qr_token"}


def snapshot(obj: Any, fields: list[str] | None = None) -> dict:
    """The column values of a model instance, JSON-ready, secrets left out."""
    mapper = inspect(obj).mapper
    names = fields or [attr.key for attr in mapper.column_attrs]
    return {name: _jsonable(getattr(obj, name)) for name in names if name not in _SECRET_FIELDS}


def changes(before: dict, after: dict) -> tuple[dict, dict]:
    """Only the fields that differ, as (before, after)."""
    keys = [k for k in after if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in keys}, {k: after[k] for k in keys}


def _jsonable(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return None
    return value


def clean(value: Any) -> Any:
    """Text as PostgreSQL stores it: no NUL, which text and jsonb columns refuse (a refused request's path or a
    scanned text may carry one, and its audit entry must still be written)."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {clean(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    return value


def _actor() -> User | None:
    if has_request_context() and getattr(current_user, "is_authenticated", False):
        return current_user._get_current_object()
    return None


def record(action: str, entity: Any = None, *, entity_name: str | None = None, entity_id: Any = None,
           before: dict | None = None, after: dict | None = None, actor: User | None = None,
           actor_name: str | None = None, organization_id: int | None = None,
           district_code: int | None = None) -> AuditLog:
    """Add an audit entry to the current session (committed by the caller's transaction)."""
    actor = actor or _actor()
    if entity is not None:
        entity_name = entity_name or type(entity).__tablename__
        entity_id = entity_id if entity_id is not None else getattr(entity, "id", None)
        organization_id = organization_id or getattr(entity, "organization_id", None)
        if organization_id is None and entity_name == "organizations":
            organization_id = getattr(entity, "id", None)
        district_code = district_code or getattr(entity, "district_code", None)
    entry = AuditLog(
        at=utcnow(),
        actor_id=actor.id if actor else None,
        actor_name=actor_name or (actor.username if actor else ""),
        action=action,
        entity=entity_name or "",
        entity_id="" if entity_id is None else clean(str(entity_id)),
        before=clean(before),
        after=clean(after),
        ip=(request.remote_addr or "") if has_request_context() else "cli",
        organization_id=organization_id,
        district_code=district_code,
    )
    db.session.add(entry)
    return entry


def record_now(action: str, *, persons: Iterable[int] = (), **kwargs: Any) -> int:
    """Write an audit entry in a transaction of its own, leaving the caller's session untouched; `persons` are
    the residents whose records it showed (linked in `person_reads`, one multi-row insert). Returns its id."""
    allowed = {"actor", "actor_name", "entity_name", "entity_id", "before", "after", "organization_id",
               "district_code"}
    if set(kwargs) - allowed:
        raise TypeError(f"unexpected audit fields: {sorted(set(kwargs) - allowed)}")
    entry_kwargs = dict(kwargs)
    actor = entry_kwargs.pop("actor", None) or _actor()
    person_ids = sorted(set(persons))
    with db.engine.begin() as conn:
        result = conn.execute(
            AuditLog.__table__.insert().values(
                at=utcnow(),
                actor_id=actor.id if actor else None,
                actor_name=entry_kwargs.pop("actor_name", None) or (actor.username if actor else ""),
                action=action,
                entity=entry_kwargs.pop("entity_name", "") or "",
                entity_id=clean(str(entry_kwargs.pop("entity_id", "") or "")),
                before=clean(entry_kwargs.pop("before", None)),
                after=clean(entry_kwargs.pop("after", None)),
                ip=(request.remote_addr or "") if has_request_context() else "cli",
                organization_id=entry_kwargs.pop("organization_id", None),
                district_code=entry_kwargs.pop("district_code", None),
            )
        )
        entry_id = result.inserted_primary_key[0]
        if person_ids:
            conn.execute(insert(PersonRead), [{"person_id": pid, "audit_id": entry_id} for pid in person_ids])
    return entry_id


def actor_unit(actor: Any) -> dict:
    """The unit a user reads for: organization, ward and districts (an inspector may cover several)."""
    if actor is None:
        return {}
    ward = getattr(actor, "ward", None)
    organization = getattr(actor, "organization", None)
    districts = list(getattr(actor, "district_codes", []) or [])
    if not districts and ward is not None:
        districts = [ward.district_code]
    if not districts and organization is not None:
        districts = [organization.district_code]
    return {"role": actor.role, "organization_id": actor.organization_id, "ward_code": actor.ward_code,
            "district_codes": districts}


def read(person_ids: Iterable[Any], *, why: str, actor: User | None = None, **details: Any) -> int | None:
    """Record that the current user was shown these residents' records: one "person.read" entry (who, their
    unit, why, what was asked) and its links to the persons, in a transaction of its own (a GET commits
    nothing else). Nothing is written when no resident was shown. Returns the entry's id."""
    ids = sorted({int(pid) for pid in person_ids if pid is not None})
    if not ids:
        return None
    actor = actor or _actor()
    unit = actor_unit(actor)
    districts = unit.get("district_codes") or []
    return record_now("person.read", persons=ids, actor=actor, entity_name="persons",
                      entity_id=ids[0] if len(ids) == 1 else "",
                      after={"why": why, "count": len(ids), "unit": unit, **details},
                      organization_id=unit.get("organization_id"),
                      district_code=districts[0] if len(districts) == 1 else None)


def reads_of(person_id: int, limit: int = 100) -> list[AuditLog]:
    """The audit entries that showed this resident's record, newest first (for the residents' portal): those
    linked in person_reads, and the single-person "person.read" entries that name the person as their entity
    (a scan's, written in the check-in's own statement: scanning.scan_reads). Both found by an index."""
    linked = select(PersonRead.audit_id).where(PersonRead.person_id == person_id)
    named = and_(AuditLog.action == "person.read", AuditLog.entity == "persons", AuditLog.entity_id == str(person_id))
    stmt = select(AuditLog).where(or_(AuditLog.id.in_(linked), named)).order_by(AuditLog.id.desc()).limit(limit)
    return list(db.session.scalars(stmt))
