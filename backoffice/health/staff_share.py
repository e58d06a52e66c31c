"""Staff green share: the share of an organization's active staff whose health status is green.

One definition for the criteria fact `staff_green_share`, the compliance list and the reports: the staff counted
are the active staff rows; green is `HealthStatus.green`, decided by the rule files in force at the time asked; a
worker not linked to a resident record has no vaccination data, which the colour rule treats as black, so they
count in the denominator and never in the numerator. The database counts staff per (group, distinct facts) in
one query (`tally.green_tally`): no list of staff comes back.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, select

from backoffice.health.tally import green_tally
from backoffice.models import Organization, Staff

__all__ = ["green_staff", "green_staff_by_organization", "share"]


def green_staff(at: datetime, *where: ColumnElement,
                groups: Sequence[ColumnElement] = (Staff.organization_id,)) -> dict[tuple, tuple[int, int]]:
    """group → (active staff, green staff) at `at`, over the active staff matching `where`; `groups` may name
    columns of the staff row or of its organization."""
    staff = (select(*groups, Staff.person_id)
             .join_from(Staff, Organization, Organization.id == Staff.organization_id)
             .where(Staff.active.is_(True), *where))
    return green_tally(staff, at)


def green_staff_by_organization(org_ids: Iterable[int], at: datetime) -> dict[int, tuple[int, int]]:
    """organization id → (active staff, green staff) at `at`; an organization without active staff is absent."""
    ids = list(org_ids)
    if not ids:
        return {}
    return {group[0]: counts for group, counts in green_staff(at, Staff.organization_id.in_(ids)).items()}


def share(total: int, green: int, digits: int | None = None) -> float | None:
    """green / total, None without staff; rounded to `digits` when given (stored facts keep 4)."""
    if not total:
        return None
    value = green / total
    return round(value, digits) if digits is not None else value
