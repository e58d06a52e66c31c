"""Staff green share: the one figure that is not a plain SQL aggregate, because a person's colour is decided by
the health-status rules (backoffice.qr.health, rule-engine), not stored. The staff and their organizations come
from one scoped query; the colours from `colours_for` (set-based: a few queries for any number of persons);
counting them per organization is a tally over that single result.

Definition (the same as the criteria fact `staff_green_share`): active staff of the organization; a worker not
linked to a resident record has no vaccination data, which the 1913 letter's rule treats as black, so they count
in the denominator and never in the numerator.
"""
from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from flask import g, has_app_context
from sqlalchemy import select

from backoffice.auth.scope import scope_clause
from backoffice.extensions import db
from backoffice.models import Organization, Staff
from backoffice.models.base import utcnow
from backoffice.reports.scope import ReportScope


def _colours_for():
    try:
        from backoffice.qr.health import colours_for
    except ImportError:  # the QR capability is not installed: the share is unknown, not zero
        return None
    return colours_for


def _status_at(rs: ReportScope) -> datetime:
    return min(utcnow(), rs.end)


def staff_tally(rs: ReportScope) -> dict[int, tuple[int, int, int, int]]:
    """organization id → (district code, ward code, active staff, green staff); memoised per request/app
    context so a workbook's summary and organization sheets evaluate the rules once."""
    cache_key = ("reports_staff", rs.key, getattr(rs.user, "id", None))
    store = g if has_app_context() else None
    if store is not None and cache_key in store.setdefault("_reports_memo", {}):
        return store._reports_memo[cache_key]
    staff_persons = (
        select(Staff.organization_id, Organization.district_code, Organization.ward_code, Staff.person_id)
        .join(Organization, Organization.id == Staff.organization_id)
        .where(rs.org_clause(), scope_clause(Staff, rs.user), Staff.active.is_(True)))
    rows = db.session.execute(staff_persons).all()
    colours_for = _colours_for()
    green_ids: set[int] = set()
    if colours_for is not None and any(r.person_id is not None for r in rows):
        # Given as a query, the persons are read by two set-based queries (no list of ids sent back).
        statuses = colours_for(staff_persons.with_only_columns(Staff.person_id)
                               .where(Staff.person_id.is_not(None)), _status_at(rs))
        green_ids = {pid for pid, status in statuses.items() if _is_green(status)}
    totals: Counter = Counter()
    greens: Counter = Counter()
    where: dict[int, tuple[int, int]] = {}
    for org_id, district, ward, person_id in rows:
        totals[org_id] += 1
        greens[org_id] += person_id in green_ids
        where[org_id] = (district, ward)
    tally = {org: (*where[org], totals[org], greens[org]) for org in totals} if colours_for else {}
    if store is not None:
        store._reports_memo[cache_key] = tally
    return tally


def _is_green(status: Any) -> bool:
    colour = getattr(status, "colour", None)
    return str(getattr(colour, "value", colour)) == "green"


def staff_green_by(rs: ReportScope, area_column) -> dict[int, tuple[int, int]]:
    """area code (district or ward, after `area_column`) → (active staff, green staff)."""
    by_ward = area_column is Organization.ward_code or getattr(area_column, "key", "") == "ward_code"
    out: dict[int, tuple[int, int]] = {}
    for district, ward, total, green in staff_tally(rs).values():
        code = ward if by_ward else district
        t, gr = out.get(code, (0, 0))
        out[code] = (t + total, gr + green)
    return out


def share(total: int, green: int) -> float | None:
    return green / total if total else None
