"""Alerts to the organizations a traced case visited: the place and the time, never who."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from backoffice import audit
from backoffice.auth.scope import scope
from backoffice.auth.policy import may
from backoffice.errors import OutOfRole
from backoffice.extensions import db
from backoffice.models import TraceAlert
from backoffice.timeutil import now_utc
from backoffice.tracing.service import TraceResult, scoped_one


def raise_alerts(result: TraceResult, now: datetime) -> list[TraceAlert]:
    """One alert per location visited, created or refreshed (an acknowledged alert stays acknowledged)."""
    per_location: dict[int, dict] = {}
    for v in result.visits:
        entry = per_location.setdefault(v.location_id, {"organization_id": v.organization_id, "from": v.start,
                                                        "to": v.end, "people": set()})
        entry["from"], entry["to"] = min(entry["from"], v.start), max(entry["to"], v.end)
    for c in result.contacts:
        per_location[c.location_id]["people"].add(c.person_id)
    existing = {a.location_id: a for a in db.session.scalars(
        select(TraceAlert).where(TraceAlert.trace_case_id == result.case.id))}
    alerts = []
    for location_id, entry in per_location.items():
        alert = existing.get(location_id) or TraceAlert(trace_case_id=result.case.id, location_id=location_id,
                                                        organization_id=entry["organization_id"], created_at=now)
        alert.visited_from, alert.visited_to, alert.contacts = entry["from"], entry["to"], len(entry["people"])
        db.session.add(alert)
        alerts.append(alert)
    return alerts


def open_alerts(user: Any) -> list[TraceAlert]:
    """Unacknowledged alerts of the user's organization(s), newest first."""
    return list(db.session.scalars(scope(select(TraceAlert), user).where(TraceAlert.acknowledged_at.is_(None))
                                   .order_by(TraceAlert.created_at.desc(), TraceAlert.id.desc()).limit(50)))


def acknowledge_alert(user: Any, alert_id: Any) -> TraceAlert:
    if not may(user, "tracing.alerts"):
        raise OutOfRole(code="tracing.alerts")
    alert = scoped_one(TraceAlert, alert_id, user)
    if alert.acknowledged_at is None:
        alert.acknowledged_at, alert.acknowledged_by_id = now_utc(), user.id
        audit.record("trace_alert.acknowledge", alert, after={"location_id": alert.location_id})
        db.session.commit()
    return alert
