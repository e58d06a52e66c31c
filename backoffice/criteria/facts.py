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
from backoffice.health.staff_share import green_staff_by_organization, share
from backoffice.models import CheckIn, Checkpoint, Location, Organization


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
    "not_provided": _l("No value was provided."),
}


def staff_green_share(org: Organization, at: datetime) -> FactValue:
    """Share of the organization's active staff whose status is green at `at` (`health.staff_share`: unlinked
    staff count as black)."""
    total, green = green_staff_by_organization([org.id], at).get(org.id, (0, 0))
    if not total:
        return FactValue(None, "no_staff", 0)
    return FactValue(share(total, green, digits=4), None, total)


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
