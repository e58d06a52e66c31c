"""Figures for the dashboards of a ward officer (its residents and their cards) and of an organization admin
(its locations, today's check-ins, its assessments), every one a scoped aggregate query. Tracing alerts have
their own panel (backoffice.tracing)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy import case, func, select

from backoffice.auth.scope import scope, scope_clause
from backoffice.criteria.overdue import is_overdue
from backoffice.database import as_date, local_date
from backoffice.domain import AssessmentKind, AssessmentState, Colour
from backoffice.extensions import db
from backoffice.health.staff_share import share
from backoffice.health.tally import green_tally
from backoffice.models import (
    Assessment, CheckIn, Checkpoint, Location, Organization, Person, PersonalQRIssue, Staff,
)
from backoffice.reports.queries import DaySeries
from backoffice.reports.scope import CHECKIN_DAYS
from backoffice.timeutil import LOCAL_TZ, local_today, now_utc


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(), LOCAL_TZ).astimezone(timezone.utc)


@dataclass
class WardFigures:
    residents: int = 0
    cards: int = 0  # cards printed (every issue, reprints included)
    residents_with_card: int = 0
    cards_7d: int = 0
    green: int = 0
    black: int = 0

    @property
    def green_share(self) -> float | None:
        return share(self.green + self.black, self.green)


def ward_figures(user: Any) -> WardFigures:
    figures = WardFigures()
    figures.residents = db.session.scalar(scope(select(func.count(Person.id)), user, Person)) or 0
    since = day_start(local_today() - timedelta(days=6))
    row = db.session.execute(scope(select(
        func.count(PersonalQRIssue.id), func.count(func.distinct(PersonalQRIssue.person_id)),
        func.sum(case((PersonalQRIssue.issued_at >= since, 1), else_=0))), user, PersonalQRIssue)).one()
    figures.cards, figures.residents_with_card, figures.cards_7d = row[0] or 0, row[1] or 0, int(row[2] or 0)
    # Counted by the database per distinct facts (no list of residents comes back).
    persons, green = green_tally(select(Person.id).where(scope_clause(Person, user)), now_utc()).get((), (0, 0))
    figures.green, figures.black = green, persons - green
    return figures


@dataclass
class LocationFigures:
    id: int
    name: str
    active: bool
    today: int
    on_site: int


@dataclass
class OrgFigures:
    organization: Organization | None
    locations: list[LocationFigures] = field(default_factory=list)
    today: int = 0
    today_green: int = 0
    on_site: int = 0
    staff: int = 0
    self_level: str | None = None
    self_percent: float | None = None
    self_at: datetime | None = None
    self_version: int | None = None
    inspection_level: str | None = None
    inspection_at: datetime | None = None
    inspection_version: int | None = None
    checkpoints: int = 0  # active ones
    posters_printed: bool = False

    @property
    def overdue(self) -> bool:
        return is_overdue(self.organization, self.self_at, now_utc())

    @property
    def first_steps(self) -> list[FirstStep]:
        """What a new organization does first, in order, each ticked once the data shows it done."""
        return [FirstStep("location", any(loc.active for loc in self.locations)),
                FirstStep("poster", self.posters_printed),
                FirstStep("checkpoint", self.checkpoints > 0),
                FirstStep("assessment", self.self_at is not None)]

    @property
    def getting_started(self) -> bool:
        """Shown on the home (instead of "assess again") until every first step is done."""
        return not all(step.done for step in self.first_steps)


@dataclass(frozen=True)
class FirstStep:
    key: str  # location | poster | checkpoint | assessment (the template words and links each)
    done: bool


def org_figures(user: Any) -> OrgFigures:
    org = db.session.scalar(scope(select(Organization), user, Organization))
    figures = OrgFigures(org)
    if org is None:
        return figures
    start = day_start(local_today())
    today = func.sum(case((CheckIn.checked_in_at >= start, 1), else_=0))
    open_now = func.sum(case((CheckIn.checked_out_at.is_(None), 1), else_=0))
    stays = (select(CheckIn.location_id, today.label("today"), open_now.label("open"))
             .where(scope_clause(CheckIn, user), CheckIn.organization_id == org.id,
                    (CheckIn.checked_in_at >= start) | CheckIn.checked_out_at.is_(None))
             .group_by(CheckIn.location_id).subquery())
    rows = db.session.execute(
        scope(select(Location.id, Location.name, Location.active, stays.c.today, stays.c.open), user, Location)
        .outerjoin(stays, stays.c.location_id == Location.id).order_by(Location.name))
    figures.locations = [LocationFigures(r[0], r[1], r[2], int(r[3] or 0), int(r[4] or 0)) for r in rows]
    totals = db.session.execute(
        scope(select(func.count(), func.sum(case((CheckIn.status_colour == Colour.GREEN.value, 1), else_=0))),
              user, CheckIn).where(CheckIn.checked_in_at >= start)).one()
    figures.today, figures.today_green = totals[0] or 0, int(totals[1] or 0)
    figures.on_site = sum(loc.on_site for loc in figures.locations)
    figures.staff = db.session.scalar(scope(select(func.count(Staff.id)), user, Staff)
                                      .where(Staff.active.is_(True))) or 0
    figures.checkpoints = db.session.scalar(scope(select(func.count(Checkpoint.id)), user, Checkpoint)
                                            .where(Checkpoint.active.is_(True))) or 0
    from backoffice.printing.locations import posters_printed
    figures.posters_printed = posters_printed(org.id)
    for kind in (AssessmentKind.SELF, AssessmentKind.INSPECTION):
        latest = db.session.execute(
            scope(select(Assessment.level, Assessment.percent, Assessment.submitted_at, Assessment.set_version_id),
                  user, Assessment)
            .where(Assessment.kind == kind.value, Assessment.state == AssessmentState.SUBMITTED.value)
            .order_by(Assessment.submitted_at.desc(), Assessment.id.desc()).limit(1)).first()
        if latest and kind is AssessmentKind.SELF:
            figures.self_level, figures.self_percent, figures.self_at, figures.self_version = latest
        elif latest:
            figures.inspection_level, _p, figures.inspection_at, figures.inspection_version = latest
    return figures


def org_checkins_per_day(user: Any) -> DaySeries:
    """The organization's check-ins per local day over the last 30 days."""
    last = local_today()
    days = [last - timedelta(days=n) for n in range(CHECKIN_DAYS - 1, -1, -1)]
    day = local_date(CheckIn.checked_in_at)
    green = func.sum(case((CheckIn.status_colour == Colour.GREEN.value, 1), else_=0))
    stmt = (scope(select(day.label("day"), func.count(), green), user, CheckIn)
            .where(CheckIn.checked_in_at >= day_start(days[0])).group_by(day))
    counts = {as_date(d): (n, int(g or 0)) for d, n, g in db.session.execute(stmt)}
    values = [counts.get(d, (0, 0)) for d in days]
    return DaySeries(days, [t for t, _ in values], [g for _, g in values], [t - g for t, g in values])
