"""What a report covers: which districts and sector, as of which day, for which user.

A `ReportScope` is built only by `resolve()`, which checks the request against `backoffice.auth.scope`:
a district the user cannot read is "not found" (404), a role that has no reports is "forbidden" (403).
Every query of the reports package then filters organizations with `ReportScope.org_clause()`, which
starts from `scope_clause(Organization, user)`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy import ColumnElement, select

from backoffice.auth.policy import may
from backoffice.auth.scope import scope_clause
from backoffice.domain import OrgStatus, Sector
from backoffice.errors import OutOfRole, OutOfScope
from backoffice.extensions import db
from backoffice.models import District, Organization
from backoffice.timeutil import LOCAL_TZ, local_today

CHECKIN_DAYS = 30  # the per-day series of every report
RECENT_DAYS = 7  # "check-ins in the last 7 days" per organization


class ReportNotFound(OutOfScope):
    """The district (or sector) asked for is outside the user's scope, or does not exist: answer 404."""


class ReportForbidden(OutOfRole):
    """The user's role has no reports: answer 403, audited as `reports.role`."""

    default_code = "reports.role"


@dataclass(frozen=True)
class ReportScope:
    user: Any
    districts: tuple[int, ...]
    sector: str | None
    as_of: date
    names: dict[int, str] = field(default_factory=dict, compare=False, hash=False)

    def org_clause(self) -> ColumnElement[bool]:
        """Operating organizations of the report: the user's scope ∩ the chosen districts ∩ the sector."""
        clause = scope_clause(Organization, self.user) & Organization.district_code.in_(self.districts) \
            & (Organization.status == OrgStatus.ACTIVE.value)
        if self.sector:
            clause = clause & (Organization.sector == self.sector)
        return clause

    @property
    def end(self) -> datetime:
        """The end (exclusive, UTC) of the report's last day in Ho Chi Minh City time."""
        return datetime.combine(self.as_of + timedelta(days=1), time(), LOCAL_TZ).astimezone(timezone.utc)

    def since(self, days: int) -> datetime:
        return self.end - timedelta(days=days)

    @property
    def days(self) -> list[date]:
        return [self.as_of - timedelta(days=n) for n in range(CHECKIN_DAYS - 1, -1, -1)]

    @property
    def key(self) -> str:
        """Identifies the figures (not the user): two users with the same scope share cached charts."""
        user_sector = getattr(self.user, "sector", None) or ""
        return f"{','.join(map(str, self.districts))}|{self.sector or ''}|{user_sector}|{self.as_of.isoformat()}"


def _user_districts(user: Any) -> list[int]:
    stmt = select(District.code).where(scope_clause(District, user)).order_by(District.code)
    return list(db.session.scalars(stmt))


def district_names(codes: list[int] | tuple[int, ...]) -> dict[int, str]:
    rows = db.session.execute(select(District.code, District.name).where(District.code.in_(codes)))
    return dict(rows.all())


def resolve(user: Any, district: int | None = None, *, sector: str | None = None,
            as_of: date | None = None) -> ReportScope:
    """The scope of one report for `user`: one district when given, else every district the user may read."""
    if not may(user, "reports.area"):
        raise ReportForbidden(user.role if user is not None else "anonymous")
    allowed = _user_districts(user)
    if district is not None:
        if district not in allowed:
            raise ReportNotFound(f"district {district}")
        districts = (district,)
    else:
        districts = tuple(allowed)
    if sector in ("", None):
        sector = None
    elif sector not in {s.value for s in Sector}:
        raise ReportNotFound(f"sector {sector}")
    # A department (an inspector with a sector) sees only its sector, whatever it asks for.
    if getattr(user, "sector", None):
        if sector not in (None, user.sector):
            raise ReportNotFound(f"sector {sector}")
        sector = user.sector
    today = local_today()
    if as_of is None or as_of > today:
        as_of = today
    return ReportScope(user=user, districts=districts, sector=sector, as_of=as_of,
                       names=district_names(districts))
