"""Referrals: tracing never crosses a district's boundary in clear.

A contact whose ward lies in another district than the case's is referred to that district: one
`TraceReferral` per (case, person), written with each run of the case (open, approval, rerun). The inspectors of
the receiving district read it in their tracing page, in clear when the person is in their person scope, and
acknowledge it; the tracing inspector sees the same contact masked. A contact without a ward on record is
referred to the city (district NULL), which only city admins read.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from backoffice import audit
from backoffice.auth.scope import scope
from backoffice.extensions import db
from backoffice.models import District, Location, Person, TraceReferral, mask_id
from backoffice.timeutil import now_utc
from backoffice.tracing.service import TraceResult, initials, require_tracer, scoped_one

OPEN, ACKNOWLEDGED = "open", "acknowledged"


def refer(result: TraceResult, now: datetime) -> list[TraceReferral]:
    """Create or refresh the referrals of a traced case (the caller commits). Contacts living in the case's own
    district stay with its inspectors; a referral already acknowledged stays acknowledged."""
    case = result.case
    first: dict[int, Any] = {}
    stays: dict[int, int] = {}
    for contact in result.contacts:
        if contact.district_code == case.district_code:
            continue
        stays[contact.person_id] = stays.get(contact.person_id, 0) + 1
        if contact.person_id not in first or contact.start < first[contact.person_id].start:
            first[contact.person_id] = contact
    if not first:
        return []
    existing = {r.person_id: r for r in db.session.scalars(
        select(TraceReferral).where(TraceReferral.trace_case_id == case.id))}
    referrals = []
    for person_id, contact in first.items():
        referral = existing.get(person_id) or TraceReferral(trace_case_id=case.id, person_id=person_id,
                                                            status=OPEN, created_at=now)
        referral.district_code, referral.location_id = contact.district_code, contact.location_id
        referral.contact_from, referral.contact_to = contact.start, contact.end
        referral.stays = stays[person_id]
        db.session.add(referral)
        referrals.append(referral)
    districts = sorted({r.district_code for r in referrals}, key=lambda d: (d is None, d or 0))
    audit.record("trace.refer", case, after={"referrals": len(referrals), "districts": districts})
    return referrals


def district_names(codes: set[int | None]) -> dict[int | None, str]:
    """Names of the districts contacts are referred to. Administrative units are public reference data (the GSO
    list), not a record of anyone: the tracing inspector may know where a referral went."""
    wanted = {c for c in codes if c is not None}
    names: dict[int | None, str] = dict(db.session.execute(
        select(District.code, District.name).where(District.code.in_(wanted))).all()) if wanted else {}
    return names


@dataclass(frozen=True)
class ReferralRow:
    """A referral as its reader may see it: in clear when the person is in the reader's scope, masked otherwise."""
    id: int
    full_name: str
    id_shown: str
    phone: str | None
    organization_name: str
    location_name: str
    contact_from: datetime
    contact_to: datetime
    stays: int
    status: str
    district_code: int | None
    visible: bool


def list_referrals(user: Any, limit: int = 200) -> list[ReferralRow]:
    """The referrals in the user's scope (their districts'; all for a city admin), open ones first; the reading
    is audited when it shows anyone."""
    require_tracer(user)
    referrals = list(db.session.scalars(
        scope(select(TraceReferral), user)
        .options(selectinload(TraceReferral.person), selectinload(TraceReferral.location)
                 .selectinload(Location.organization))
        .order_by((TraceReferral.status == ACKNOWLEDGED), TraceReferral.created_at.desc(), TraceReferral.id.desc())
        .limit(limit)))
    if not referrals:
        return []
    person_ids = {r.person_id for r in referrals}
    visible = set(db.session.scalars(scope(select(Person.id).where(Person.id.in_(person_ids)), user)))
    rows = []
    for r in referrals:
        clear = r.person_id in visible
        person = r.person
        rows.append(ReferralRow(
            r.id, person.full_name if clear else initials(person.full_name), mask_id(person.id_number),
            person.phone if clear else None, r.location.organization.name, r.location.name, r.contact_from,
            r.contact_to, r.stays, r.status, r.district_code, clear))
    audit.record_now("trace.referrals.view", entity_name="trace_referrals",
                     after={"referrals": [r.id for r in rows], "in_clear": sum(r.visible for r in rows)})
    return rows


def acknowledge(user: Any, referral_id: Any) -> TraceReferral:
    """The receiving district takes the referral in hand (403 for other roles, 404 out of scope)."""
    require_tracer(user)
    referral = scoped_one(TraceReferral, referral_id, user)
    if referral.status == OPEN:
        referral.status, referral.acknowledged_at, referral.acknowledged_by_id = ACKNOWLEDGED, now_utc(), user.id
        audit.record("trace_referral.acknowledge", referral, after={"person_id": referral.person_id,
                                                                    "trace_case_id": referral.trace_case_id})
        db.session.commit()
    return referral
