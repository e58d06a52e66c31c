"""Compliance lists: organizations in scope with their latest self-assessment, latest inspection, staff green
share and whether they are overdue (criteria.overdue: the one rule, with the first assessment's grace period).

The latest assessment per organization is a correlated subquery (ORDER BY submitted_at DESC LIMIT 1) that
walks the index ix_assessments_org_kind_submitted backwards, joined by primary key: only the rows of the page
are ever looked at when no filter needs them, so the first page stays fast at 100,000 organizations.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterator

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import aliased

from backoffice.auth.scope import scope_clause
from backoffice.criteria.overdue import overdue_clause
from backoffice.domain import AssessmentKind
from backoffice.extensions import db
from backoffice.health.staff_share import green_staff_by_organization, share
from backoffice.models import Assessment, District, Organization, Ward
from backoffice.search import fold, folded, like_escape, prepare


@dataclass
class Filters:
    district: int | None = None
    ward: int | None = None
    sector: str | None = None
    level: str | None = None  # a level id, or "none" for never self-assessed
    set_id: str | None = None  # the criteria set whose levels `level` names
    overdue: bool | None = None
    q: str | None = None  # a name (diacritics optional) or a tax code, whole or in part


def _search_clause(text: str | None):
    """Organizations whose name contains the typed words (any case, diacritics optional) or whose tax code
    contains the typed digits ("0100047516", "0100047516-001", or a part of it)."""
    text = (text or "").strip()[:128]
    if not text:
        return None
    prepare(db.session)
    conditions = [folded(Organization.name).like(f"%{like_escape(fold(text))}%", escape="\\")]
    digits = re.sub(r"[\s.]", "", text)
    if re.fullmatch(r"\d[\d-]*", digits):
        conditions.append(Organization.tax_code.like(f"%{digits}%"))
    return or_(*conditions)


@dataclass
class Row:
    org_id: int
    name: str
    tax_code: str
    sector: str
    district: str
    ward: str
    self_id: int | None
    self_level: str | None
    self_percent: float | None
    self_at: datetime | None
    self_set: str | None
    insp_id: int | None
    insp_level: str | None
    insp_at: datetime | None
    overdue: bool
    green_share: float | None = None
    staff_count: int = 0


def _latest(kind: AssessmentKind):
    inner = aliased(Assessment)
    return (select(inner.id)
            .where(inner.organization_id == Organization.id, inner.kind == kind.value,
                   inner.submitted_at.is_not(None))
            .order_by(inner.submitted_at.desc()).limit(1)
            .correlate(Organization).scalar_subquery())


def _base(user: Any, filters: Filters, now: datetime, overdue_days: int) -> tuple[Select, Any, Any]:
    own, insp = aliased(Assessment, name="own"), aliased(Assessment, name="insp")
    overdue = overdue_clause(own.id.is_(None), own.submitted_at, now, overdue_days)
    stmt = (select(Organization.id, Organization.name, Organization.tax_code, Organization.sector,
                   District.name.label("district"), Ward.name.label("ward"),
                   own.id.label("self_id"), own.level.label("self_level"), own.percent.label("self_percent"),
                   own.submitted_at.label("self_at"), own.ruleset_id.label("self_set"),
                   insp.id.label("insp_id"), insp.level.label("insp_level"), insp.submitted_at.label("insp_at"),
                   overdue.label("overdue"))
            .join(District, District.code == Organization.district_code)
            .join(Ward, Ward.code == Organization.ward_code)
            .outerjoin(own, own.id == _latest(AssessmentKind.SELF))
            .outerjoin(insp, insp.id == _latest(AssessmentKind.INSPECTION))
            .where(scope_clause(Organization, user)))
    conditions = []
    if filters.district:
        conditions.append(Organization.district_code == filters.district)
    if filters.ward:
        conditions.append(Organization.ward_code == filters.ward)
    if filters.sector:
        conditions.append(Organization.sector == filters.sector)
    if filters.level == "none":
        conditions.append(own.id.is_(None))
    else:
        # A level is one of its set's: the latest self-assessment was made with that set (and reached it).
        if filters.set_id:
            conditions.append(own.ruleset_id == filters.set_id)
        if filters.level:
            conditions.append(own.level == filters.level)
    if filters.overdue is not None:
        conditions.append(overdue if filters.overdue else ~overdue)
    searched = _search_clause(filters.q)
    if searched is not None:
        conditions.append(searched)
    if conditions:
        stmt = stmt.where(and_(*conditions))
    return stmt, own, conditions


def _count(user: Any, filters: Filters, now: datetime, overdue_days: int) -> int:
    needs_assessment = filters.level is not None or filters.overdue is not None or filters.set_id is not None
    if needs_assessment:
        stmt, _own, _c = _base(user, filters, now, overdue_days)
        return db.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    # Without a level or overdue filter the count needs no assessment at all.
    stmt = select(func.count(Organization.id)).where(scope_clause(Organization, user))
    for column, value in ((Organization.district_code, filters.district), (Organization.ward_code, filters.ward),
                          (Organization.sector, filters.sector)):
        if value:
            stmt = stmt.where(column == value)
    searched = _search_clause(filters.q)
    if searched is not None:
        stmt = stmt.where(searched)
    return db.session.scalar(stmt) or 0


def page(user: Any, filters: Filters, now: datetime, overdue_days: int, number: int = 1,
         per_page: int = 50, with_green_share: bool = True) -> tuple[list[Row], int]:
    """One page of the compliance list, and the total number of rows."""
    stmt, _own, _c = _base(user, filters, now, overdue_days)
    stmt = stmt.order_by(Organization.name, Organization.id).limit(per_page).offset((max(number, 1) - 1) * per_page)
    rows = [Row(*r[:6], *r[6:14], bool(r[14])) for r in db.session.execute(stmt)]
    if with_green_share:
        attach_green_shares(rows, now)
    return rows, _count(user, filters, now, overdue_days)


def iterate(user: Any, filters: Filters, now: datetime, overdue_days: int, chunk: int = 1000) -> Iterator[Row]:
    """Every row, in chunks (green shares computed per chunk), for the Excel export."""
    stmt, _own, _c = _base(user, filters, now, overdue_days)
    last_name, last_id = None, 0
    while True:
        query = stmt.order_by(Organization.name, Organization.id).limit(chunk)
        if last_name is not None:
            query = query.where(or_(Organization.name > last_name,
                                    and_(Organization.name == last_name, Organization.id > last_id)))
        rows = [Row(*r[:6], *r[6:14], bool(r[14])) for r in db.session.execute(query)]
        if not rows:
            return
        attach_green_shares(rows, now)
        yield from rows
        last_name, last_id = rows[-1].name, rows[-1].org_id


def attach_green_shares(rows: list[Row], now: datetime) -> None:
    """Staff green share of each row's organization now (`health.staff_share`; None when it has no active
    staff)."""
    counts = green_staff_by_organization([r.org_id for r in rows], now)
    for row in rows:
        total, green = counts.get(row.org_id, (0, 0))
        row.staff_count = total
        row.green_share = share(total, green, digits=4)


__all__ = ["Filters", "Row", "page", "iterate", "attach_green_shares"]
