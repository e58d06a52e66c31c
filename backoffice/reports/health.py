"""Staff green share: the one figure that is not a plain SQL aggregate, because a person's colour is decided by
the health-status rules (backoffice.health.status, rule-engine), not stored. The database computes each staff member's
facts and counts staff per (organization, distinct facts) in one query (`health.tally.green_tally`); the rules
run once per distinct set of facts, and Python adds up the counted rows per organization.

Definition (the same as the criteria fact `staff_green_share`): active staff of the organization; a worker not
linked to a resident record has no vaccination data, which the 1913 letter's rule treats as black, so they count
in the denominator and never in the numerator.
"""
from __future__ import annotations

from datetime import datetime

from flask import g, has_app_context
from sqlalchemy import select

from backoffice.auth.scope import scope_clause
from backoffice.models import Organization, Staff
from backoffice.models.base import utcnow
from backoffice.reports.scope import ReportScope


def _green_tally():
    try:
        from backoffice.health.tally import green_tally
    except ImportError:  # the QR capability is not installed: the share is unknown, not zero
        return None
    return green_tally


def _status_at(rs: ReportScope) -> datetime:
    return min(utcnow(), rs.end)


def staff_tally(rs: ReportScope) -> dict[int, tuple[int, int, int, int]]:
    """organization id → (district code, ward code, active staff, green staff); memoised per request/app
    context so a workbook's summary and organization sheets evaluate the rules once."""
    cache_key = ("reports_staff", rs.key, getattr(rs.user, "id", None))
    store = g if has_app_context() else None
    if store is not None and cache_key in store.setdefault("_reports_memo", {}):
        return store._reports_memo[cache_key]
    green_tally = _green_tally()
    tally: dict[int, tuple[int, int, int, int]] = {}
    if green_tally is not None:
        staff_persons = (
            select(Staff.organization_id, Organization.district_code, Organization.ward_code, Staff.person_id)
            .join(Organization, Organization.id == Staff.organization_id)
            .where(rs.org_clause(), scope_clause(Staff, rs.user), Staff.active.is_(True)))
        # Counted per (organization, distinct facts) in the database: no list of staff comes back.
        for (org, district, ward), (total, green) in green_tally(staff_persons, _status_at(rs)).items():
            tally[org] = (district, ward, total, green)
    if store is not None:
        store._reports_memo[cache_key] = tally
    return tally


def green_by_area(tally: dict[int, tuple[int, int, int, int]], by_ward: bool) -> dict[int, tuple[int, int]]:
    """A `staff_tally` summed per ward (or per district): area code → (active staff, green staff)."""
    out: dict[int, tuple[int, int]] = {}
    for district, ward, total, green in tally.values():
        code = ward if by_ward else district
        t, gr = out.get(code, (0, 0))
        out[code] = (t + total, gr + green)
    return out


def share(total: int, green: int) -> float | None:
    return green / total if total else None
