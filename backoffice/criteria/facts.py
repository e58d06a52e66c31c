"""Facts computed from data, never asked: the engine scores them like answers.

A fact that cannot be computed (no staff recorded yet, workers on site unknown) is `None` with a reason
code, so the criterion scores "not evaluable" with that reason — never a crash, never a silent zero.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from backoffice.extensions import db
from backoffice.models import CheckIn, Checkpoint, Location, Organization, Staff


@dataclass(frozen=True)
class FactValue:
    value: float | None
    reason: str | None = None  # code of why it is None (see REASONS)
    count: int | None = None  # the population it was computed over, when that matters

    def to_json(self) -> dict:
        return {"value": self.value, "reason": self.reason, "count": self.count}


@dataclass(frozen=True)
class FactDef:
    name: str
    label: object  # lazy text
    unit: object
    compute: Callable[[Organization, datetime], FactValue]


REASONS = {
    "no_staff": _l("No active staff are recorded for this organization yet."),
    "workers_unknown": _l("The number of workers on site is not recorded in the organization's profile."),
    "health_rules_unavailable": _l("The health-status rules are not available, so staff colours cannot be "
                                   "computed."),
    "not_provided": _l("No value was provided."),
}


def staff_green_share(org: Organization, at: datetime) -> FactValue:
    """Share of the organization's active staff whose status is green now. Staff not linked to a resident
    record have no vaccination data, which the 1913 letter's colour rule treats as black: they count in the
    denominator and never in the numerator."""
    rows = db.session.execute(select(Staff.person_id).where(Staff.organization_id == org.id,
                                                            Staff.active.is_(True))).all()
    if not rows:
        return FactValue(None, "no_staff", 0)
    person_ids = [r.person_id for r in rows if r.person_id is not None]
    green = 0
    if person_ids:
        try:
            from backoffice.health.status import colours_for
        except ImportError:
            return FactValue(None, "health_rules_unavailable", len(rows))
        statuses = colours_for(person_ids, at)
        green = sum(1 for pid in person_ids if _is_green(statuses.get(pid)))
    return FactValue(round(green / len(rows), 4), None, len(rows))


def _is_green(status) -> bool:
    colour = getattr(status, "colour", None)
    return str(getattr(colour, "value", colour)) == "green"


def active_checkpoints(org: Organization, at: datetime) -> FactValue:
    count = db.session.scalar(
        select(func.count()).select_from(Checkpoint).join(Location, Location.id == Checkpoint.location_id)
        .where(Checkpoint.organization_id == org.id, Checkpoint.active.is_(True), Location.active.is_(True)))
    return FactValue(float(count or 0))


def checkins_last_7_days(org: Organization, at: datetime) -> FactValue:
    count = db.session.scalar(select(func.count()).select_from(CheckIn).where(
        CheckIn.organization_id == org.id, CheckIn.checked_in_at >= at - timedelta(days=7),
        CheckIn.checked_in_at <= at))
    return FactValue(float(count or 0))


def workers_on_site(org: Organization, at: datetime) -> FactValue:
    if org.workers_on_site is None:
        return FactValue(None, "workers_unknown")
    return FactValue(float(org.workers_on_site))


FACTS: dict[str, FactDef] = {
    f.name: f for f in [
        FactDef("staff_green_share", _l("Share of active staff with a green status"), _l("share (0–1)"),
                staff_green_share),
        FactDef("active_checkpoints", _l("Active checkpoints"), _l("checkpoints"), active_checkpoints),
        FactDef("checkins_last_7_days", _l("Check-ins in the last 7 days"), _l("check-ins"), checkins_last_7_days),
        FactDef("workers_on_site", _l("Workers on site"), _l("workers"), workers_on_site),
    ]
}


def compute_facts(names: set[str], org: Organization, at: datetime) -> dict[str, dict]:
    """The facts a set needs, computed now for `org`, as stored on an assessment."""
    return {name: FACTS[name].compute(org, at).to_json() for name in sorted(names)}
