"""Staff green share per organization and per area, for the reports: the counts come from
`health.staff_share` (the one definition, shared with the criteria fact `staff_green_share` and the compliance
list), restricted to the report's organizations and the reader's scope, at the report's end or now if earlier.
"""
from __future__ import annotations

from datetime import datetime

from flask import g, has_app_context

from backoffice.auth.scope import scope_clause
from backoffice.health.staff_share import green_staff
from backoffice.models import Organization, Staff
from backoffice.models.base import utcnow
from backoffice.reports.scope import ReportScope


def _status_at(rs: ReportScope) -> datetime:
    return min(utcnow(), rs.end)


def staff_tally(rs: ReportScope) -> dict[int, tuple[int, int, int, int]]:
    """organization id → (district code, ward code, active staff, green staff); memoised per request/app
    context so a workbook's summary and organization sheets evaluate the rules once."""
    cache_key = ("reports_staff", rs.key, getattr(rs.user, "id", None))
    store = g if has_app_context() else None
    if store is not None and cache_key in store.setdefault("_reports_memo", {}):
        return store._reports_memo[cache_key]
    counted = green_staff(_status_at(rs), rs.org_clause(), scope_clause(Staff, rs.user),
                          groups=(Staff.organization_id, Organization.district_code, Organization.ward_code))
    tally = {org: (district, ward, total, green) for (org, district, ward), (total, green) in counted.items()}
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
