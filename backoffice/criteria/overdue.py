"""Whether an organization is overdue for its self-assessment: the one rule that the compliance lists, the district
and city workbooks and the organization's own home page share.

Overdue: the latest self-assessment is older than CRITERIA_OVERDUE_DAYS (default 30), or there is none and the
first one's grace period is over — BACKOFFICE_FIRST_ASSESSMENT_GRACE_DAYS (default 14) counted from the
organization's approval (`decided_at`; `created_at` when it was active from its creation, as imported or entered by
an inspector). Without the grace period a new organization was "overdue" on its first day.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import and_, func, or_

from backoffice.models import Organization

DEFAULT_GRACE_DAYS = 14


def valid_days() -> int:
    return int(current_app.config.get("CRITERIA_OVERDUE_DAYS", 30))


def grace_days() -> int:
    return int(current_app.config.get("BACKOFFICE_FIRST_ASSESSMENT_GRACE_DAYS", DEFAULT_GRACE_DAYS))


def due_from() -> Any:
    """When the first self-assessment's grace period starts, as SQL over Organization."""
    return func.coalesce(Organization.decided_at, Organization.created_at)


def overdue_clause(never: Any, submitted_at: Any, now: datetime, valid: int | None = None) -> Any:
    """SQL: overdue at `now` (the reference time of the list or report), given `never` (no self-assessment: a
    condition) and the latest one's `submitted_at`; `valid` overrides CRITERIA_OVERDUE_DAYS."""
    valid = valid_days() if valid is None else valid
    return or_(and_(never, due_from() < now - timedelta(days=grace_days())),
               and_(~never, submitted_at < now - timedelta(days=valid)))


def is_overdue(organization: Any, submitted_at: datetime | None, now: datetime, valid: int | None = None) -> bool:
    """The same rule for one organization in hand (and its latest self-assessment's time, or None)."""
    if submitted_at is None:
        start = getattr(organization, "decided_at", None) or getattr(organization, "created_at", None)
        return start is not None and start < now - timedelta(days=grace_days())
    return submitted_at < now - timedelta(days=valid_days() if valid is None else valid)


__all__ = ["overdue_clause", "is_overdue", "due_from", "grace_days", "valid_days", "DEFAULT_GRACE_DAYS"]
