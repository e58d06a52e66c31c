"""Every figure of the reports, as aggregate queries in the database (GROUP BY, window functions).

Each function takes a `ReportScope` (or a user, for the dashboards of ward officers and organizations) and
filters through `backoffice.auth.scope`. Python only reshapes the few grouped rows these queries return.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Iterator, NamedTuple

from flask import current_app
from sqlalchemy import Select, case, func, literal, select
from sqlalchemy.orm import aliased

from backoffice.auth.scope import scope_clause
from backoffice.criteria.overdue import overdue_clause
from backoffice.database import as_date, is_sqlite, local_date
from backoffice.domain import AssessmentKind, AssessmentState, Colour
from backoffice.extensions import db
from backoffice.health.staff_share import share
from backoffice.models import (
    Assessment, CheckIn, CheckInDaily, Organization, Ward,
)
from backoffice.reports.scope import CHECKIN_DAYS, RECENT_DAYS, ReportScope



def valid_days() -> int:
    """Days after which a self-assessment is overdue: the criteria package's setting, one for the whole app."""
    return int(current_app.config["CRITERIA_OVERDUE_DAYS"])


# --- building blocks -------------------------------------------------------------------------------------

class Latest(NamedTuple):
    """The columns of each organization's latest assessment of one kind, as joined by `join_latest`
    (NULL when the organization has none)."""

    organization_id: Any
    level: Any
    percent: Any
    submitted_at: Any
    set_version_id: Any


def _where_latest(rs: ReportScope, kind: AssessmentKind) -> tuple:
    return (scope_clause(Assessment, rs.user), Assessment.kind == kind.value,
            Assessment.state == AssessmentState.SUBMITTED.value, Assessment.submitted_at < rs.end)


def join_latest(stmt: Select, rs: ReportScope, kind: AssessmentKind) -> tuple[Select, Latest]:
    """`stmt`, which selects from Organization, outer-joined to each organization's latest submitted assessment
    of `kind` up to the report's day (latest by submitted_at, then id), and the joined columns.

    The two databases want different plans, 2-3x apart for 100,000 organizations: SQLite walks
    ix_assessments_org_kind_submitted backwards once per organization (a correlated LIMIT 1; ROW_NUMBER() would
    sort every assessment), PostgreSQL ranks them all in one pass (a correlated probe is a subplan per row)."""
    if is_sqlite():
        latest = aliased(Assessment, name=f"latest_{kind.value}")
        pick = (select(Assessment.id).where(Assessment.organization_id == Organization.id, *_where_latest(rs, kind))
                .order_by(Assessment.submitted_at.desc(), Assessment.id.desc()).limit(1)
                .correlate(Organization).scalar_subquery())
        cols = Latest(latest.organization_id, latest.level, latest.percent, latest.submitted_at,
                      latest.set_version_id)
        return stmt.outerjoin(latest, latest.id == pick), cols
    rank = func.row_number().over(partition_by=Assessment.organization_id,
                                  order_by=(Assessment.submitted_at.desc(), Assessment.id.desc())).label("rn")
    ranked = (
        select(Assessment.organization_id, Assessment.level, Assessment.percent, Assessment.submitted_at,
               Assessment.set_version_id, rank)
        .join(Organization, Organization.id == Assessment.organization_id)
        .where(rs.org_clause(), *_where_latest(rs, kind))
        .subquery(f"ranked_{kind.value}")
    )
    latest = select(ranked).where(ranked.c.rn == 1).subquery(f"latest_{kind.value}")
    cols = Latest(latest.c.organization_id, latest.c.level, latest.c.percent, latest.c.submitted_at,
                  latest.c.set_version_id)
    return stmt.outerjoin(latest, latest.c.organization_id == Organization.id), cols


def _area(rs: ReportScope, by_ward: bool):
    """The grouping column: districts for a multi-district report, wards inside one district."""
    return Organization.ward_code if by_ward else Organization.district_code


# --- summary figures --------------------------------------------------------------------------------------

@dataclass
class AreaFigures:
    code: int
    name: str
    organizations: int = 0
    assessed: int = 0
    overdue: int = 0  # criteria.overdue: never assessed past the grace period, or assessed too long ago
    never: int = 0
    inspected: int = 0  # organizations with at least one inspection
    inspections_30d: int = 0
    checkins_30d: int = 0
    checkins_7d: int = 0
    levels: dict[str | None, int] = field(default_factory=dict)  # None = not assessed
    staff: int = 0
    staff_green: int = 0
    # The area's own breakdowns, for a sheet per ward in the district workbook (sums of the same grouped rows).
    sectors: dict[str, list[int]] = field(default_factory=dict)  # sector → [organizations, self-assessed]
    inspection_levels: dict[str | None, int] = field(default_factory=dict)
    series: DaySeries | None = None  # the area's check-ins per day

    @property
    def coverage(self) -> float:
        return self.assessed / self.organizations if self.organizations else 0.0

    @property
    def green_share(self) -> float | None:
        return share(self.staff, self.staff_green)


@dataclass
class ScopeFigures:
    areas: list[AreaFigures]  # per district (or per ward inside one district)
    sectors: list[tuple[str, int, int]]  # (sector, organizations, self-assessed)
    inspection_levels: dict[str | None, int]  # latest inspection level → organizations
    series: DaySeries  # the scope's check-ins per day


def scope_figures(rs: ReportScope, by_ward: bool = False, with_staff: bool = True) -> ScopeFigures:
    """The summary's figures, every count a GROUP BY in the database. Organizations are counted in one pass
    grouped by (area, latest self-assessment level, sector, latest inspection level); the per-area, per-sector
    and per-level tables are sums of those few grouped rows, so each latest assessment is found once.
    `with_staff=False` leaves the staff figures to `add_staff` (the workbooks count staff meanwhile)."""
    area = _area(rs, by_ward)
    one = literal(1)
    stmt, ls = join_latest(select(Organization.id).select_from(Organization), rs, AssessmentKind.SELF)
    stmt, li = join_latest(stmt, rs, AssessmentKind.INSPECTION)
    stmt = (
        stmt.with_only_columns(
            area.label("area"), ls.level.label("level"), Organization.sector, li.level.label("inspection_level"),
            func.count().label("orgs"), func.count(ls.organization_id).label("assessed"),
            func.sum(case((ls.organization_id.is_(None), one), else_=0)).label("never"),
            func.sum(case((overdue_clause(ls.organization_id.is_(None), ls.submitted_at, rs.end), one),
                          else_=0)).label("overdue"),
            func.count(li.organization_id).label("inspected"), maintain_column_froms=True)
        .where(rs.org_clause()).group_by(area, ls.level, Organization.sector, li.level)
    )
    names = _area_names(rs, by_ward)
    out = {code: AreaFigures(code=code, name=name) for code, name in names.items()}
    sectors: dict[str, list[int]] = {}
    inspection_levels: dict[str | None, int] = {}
    for row in db.session.execute(stmt):
        fig = out.setdefault(row.area, AreaFigures(code=row.area, name=str(row.area)))
        fig.levels[row.level] = fig.levels.get(row.level, 0) + row.orgs
        fig.organizations += row.orgs
        fig.assessed += row.assessed
        fig.never += int(row.never or 0)
        fig.overdue += int(row.overdue or 0)
        fig.inspected += row.inspected
        for target in (sectors, fig.sectors):
            by_sector = target.setdefault(row.sector, [0, 0])
            by_sector[0] += row.orgs
            by_sector[1] += row.assessed
        if row.inspected:
            for levels in (inspection_levels, fig.inspection_levels):
                levels[row.inspection_level] = levels.get(row.inspection_level, 0) + row.inspected
    inspections = (
        select(area.label("area"), func.count().label("n")).select_from(Assessment)
        .join(Organization, Organization.id == Assessment.organization_id)
        .where(rs.org_clause(), scope_clause(Assessment, rs.user),
               Assessment.kind == AssessmentKind.INSPECTION.value,
               Assessment.state == AssessmentState.SUBMITTED.value,
               Assessment.submitted_at >= rs.since(CHECKIN_DAYS), Assessment.submitted_at < rs.end)
        .group_by(area)
    )
    for row in db.session.execute(inspections):
        out[row.area].inspections_30d = row.n
    series = _area_checkins(rs, area, out)
    figures = ScopeFigures(sorted(out.values(), key=lambda f: f.code),
                           [(sector, n, a) for sector, (n, a) in sorted(sectors.items())], inspection_levels, series)
    if with_staff:
        from backoffice.reports import health
        add_staff(figures, health.green_by_area(health.staff_tally(rs), by_ward))
    return figures


def add_staff(figures: ScopeFigures, by_area: dict[int, tuple[int, int]]) -> None:
    """Each area's active and green staff (`health.green_by_area`) into the figures."""
    areas = {f.code: f for f in figures.areas}
    for code, (total, green) in by_area.items():
        if code in areas:
            areas[code].staff, areas[code].staff_green = total, green


def _area_checkins(rs: ReportScope, area, out: dict[int, AreaFigures]) -> DaySeries:
    """Each area's live check-ins in the last 30 and 7 days, and the scope's and each area's check-ins per day,
    from one scan of the check-ins grouped by (area, local day) (the 7 days are the last 7 of those local days)."""
    recent = rs.as_of - timedelta(days=RECENT_DAYS - 1)
    kept: dict[tuple[int, date], tuple[int, int]] = {}
    for row in db.session.execute(_kept_days(rs, [area.label("area")])):
        day, n, green = as_date(row.day), int(row.n or 0), int(row.green or 0)
        kept[(row.area, day)] = (n, green)
        total, greens = kept.get((0, day), (0, 0))
        kept[(0, day)] = (total + n, greens + green)
    live: dict[tuple[int, date], tuple[int, int]] = {}
    for row in db.session.execute(_live_days(rs, [area.label("area")])):
        day, fig = as_date(row.day), out[row.area]
        fig.checkins_30d += row.n
        if day >= recent:
            fig.checkins_7d += row.n
        live[(row.area, day)] = (row.n, int(row.green or 0))
        total, green = live.get((0, day), (0, 0))
        live[(0, day)] = (total + row.n, green + int(row.green or 0))
    # Live rows win over kept counts of a day (the scope's, and each area's, alike).
    counts = {**kept, **live}
    series = _series(rs, counts, [0, *out])
    for code, fig in out.items():
        fig.series = series[code]
    return series[0]


def area_figures(rs: ReportScope, by_ward: bool = False) -> list[AreaFigures]:
    """One row of figures per district (or per ward), every count a GROUP BY in the database."""
    return scope_figures(rs, by_ward).areas


def _area_names(rs: ReportScope, by_ward: bool) -> dict[int, str]:
    if not by_ward:
        return {code: rs.names.get(code, str(code)) for code in rs.districts}
    rows = db.session.execute(select(Ward.code, Ward.name).where(Ward.district_code.in_(rs.districts))
                              .order_by(Ward.code))
    return dict(rows.all())


def totals(figures: list[AreaFigures], code: int = 0, name: str = "") -> AreaFigures:
    """The sum of area rows (the areas partition the scope, so sums are the scope's totals)."""
    total = AreaFigures(code=code, name=name)
    for f in figures:
        for attr in ("organizations", "assessed", "overdue", "never", "inspected", "inspections_30d",
                     "checkins_30d", "checkins_7d", "staff", "staff_green"):
            setattr(total, attr, getattr(total, attr) + getattr(f, attr))
        for level, n in f.levels.items():
            total.levels[level] = total.levels.get(level, 0) + n
    return total


@dataclass
class DaySeries:
    days: list[date]
    total: list[int]
    green: list[int]
    black: list[int]


def _live_days(rs: ReportScope, cols: list) -> Select:
    """Live check-ins per (cols…, local day) over the report's 30 days: day, n, green."""
    day = local_date(CheckIn.checked_in_at)
    green = func.sum(case((CheckIn.status_colour == Colour.GREEN.value, 1), else_=0))
    return (select(*cols, day.label("day"), func.count().label("n"), green.label("green")).select_from(CheckIn)
            .join(Organization, Organization.id == CheckIn.organization_id)
            .where(rs.org_clause(), scope_clause(CheckIn, rs.user),
                   CheckIn.checked_in_at >= rs.since(CHECKIN_DAYS), CheckIn.checked_in_at < rs.end)
            .group_by(*cols, day))


def _kept_days(rs: ReportScope, cols: list) -> Select:
    """The daily counts kept by the purge for days whose check-ins were deleted: day, n, green."""
    return (select(*cols, CheckInDaily.day.label("day"), func.sum(CheckInDaily.total).label("n"),
                   func.sum(CheckInDaily.green).label("green"))
            .select_from(CheckInDaily).join(Organization, Organization.id == CheckInDaily.organization_id)
            .where(rs.org_clause(), scope_clause(CheckInDaily, rs.user),
                   CheckInDaily.day >= rs.days[0], CheckInDaily.day <= rs.as_of)
            .group_by(*cols, CheckInDaily.day))


def _series(rs: ReportScope, counts: dict[tuple[int, date], tuple[int, int]], codes) -> dict[int, DaySeries]:
    series = {}
    for code in codes:
        values = [counts.get((code, d), (0, 0)) for d in rs.days]
        series[code] = DaySeries(rs.days, [t for t, _ in values], [g for _, g in values],
                                 [t - g for t, g in values])
    return series


def checkins_per_day(rs: ReportScope, area_codes: bool = False) -> DaySeries | dict[int, DaySeries]:
    """Check-ins per local day over the report's 30 days (per district when `area_codes`). Days whose
    check-ins were purged are read from the daily counts kept by the purge (CheckInDaily), added to the live
    check-ins of the day: the purge counts and deletes the same rows in one transaction, so a check-in is in one or
    the other, and a day has both when a late scan arrived after its day was retired."""
    cols = [Organization.district_code] if area_codes else []
    counts: dict[tuple[int, date], tuple[int, int]] = {}
    for source in (_kept_days(rs, cols), _live_days(rs, cols)):
        for row in db.session.execute(source):
            key = (row[0] if area_codes else 0, as_date(row.day))
            n, green = counts.get(key, (0, 0))
            counts[key] = (n + int(row.n or 0), green + int(row.green or 0))
    series = _series(rs, counts, rs.districts if area_codes else (0,))
    return series if area_codes else series[0]


# --- organization rows --------------------------------------------------------------------------------------

class OrgRow(NamedTuple):
    id: int
    name: str
    tax_code: str
    sector: str
    district_code: int
    ward: str
    level: str | None
    percent: float | None
    assessed_on: date | None  # the local day of the latest self-assessment
    overdue: bool  # never self-assessed, or not within the validity
    set_version_id: int | None
    inspection_level: str | None
    inspected_on: date | None
    inspection_set_version_id: int | None
    checkins_7d: int


def _join_recent_checkins(stmt: Select, rs: ReportScope) -> tuple[Select, Any]:
    """`stmt` (over Organization) with each organization's check-ins in the last 7 days. SQLite counts them
    per organization down ix_checkins_org_time_colour (a correlated count; grouping the week and joining it back costs
    twice as much); PostgreSQL groups them in one pass (a correlated count there is a subplan per row, and its
    estimated cost sets off JIT compilation: +1.3 s)."""
    where = (scope_clause(CheckIn, rs.user), CheckIn.checked_in_at >= rs.since(RECENT_DAYS),
             CheckIn.checked_in_at < rs.end)
    if is_sqlite():
        return stmt, (select(func.count()).select_from(CheckIn)
                      .where(CheckIn.organization_id == Organization.id, *where)
                      .correlate(Organization).scalar_subquery())
    c7 = (select(CheckIn.organization_id, func.count().label("n")).select_from(CheckIn)
          .join(Organization, Organization.id == CheckIn.organization_id)
          .where(rs.org_clause(), *where).group_by(CheckIn.organization_id).subquery("c7"))
    return stmt.outerjoin(c7, c7.c.organization_id == Organization.id), func.coalesce(c7.c.n, 0)


def organization_rows(rs: ReportScope, batch: int = 5000) -> Iterator[OrgRow]:
    """Every organization of the scope with its latest self-assessment and inspection and its check-ins
    in the last 7 days, ordered by district then name; streamed in batches."""
    stmt, ls = join_latest(select(Organization.id).select_from(Organization)
                           .join(Ward, Ward.code == Organization.ward_code), rs, AssessmentKind.SELF)
    stmt, li = join_latest(stmt, rs, AssessmentKind.INSPECTION)
    stmt, c7 = _join_recent_checkins(stmt, rs)
    # Local days and the overdue flag from the database: 200,000 timestamps need no conversion in Python.
    overdue = overdue_clause(ls.organization_id.is_(None), ls.submitted_at, rs.end)
    stmt = (
        stmt.with_only_columns(Organization.id, Organization.name, Organization.tax_code, Organization.sector,
                               Organization.district_code, Ward.name, ls.level, ls.percent,
                               local_date(ls.submitted_at), overdue, ls.set_version_id, li.level,
                               local_date(li.submitted_at), li.set_version_id, c7, maintain_column_froms=True)
        .where(rs.org_clause())
        .order_by(Organization.district_code, Organization.name, Organization.id)
    )
    # Core rows (no ORM loading step per row: these are plain columns), streamed in batches.
    # The clause names the statement to the session, so that reading work reads it on the replica.
    result = db.session.connection(bind_arguments={"clause": stmt}).execute(stmt.execution_options(yield_per=batch))
    for row in result:
        yield OrgRow._make(row)
