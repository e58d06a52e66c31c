"""What an inspection adds to an assessment: the inspector's note per criterion, the
findings, a deadline to remedy them, and the follow-up: open → remedied (the organization, or an inspector,
says what was done) → closed (an inspector accepts it). Each step is one transaction, dated, signed and audited.

An inspection whose result fails a critical criterion or says the organization may not operate has something
to remedy: it needs a deadline. One with nothing to remedy and no deadline is closed as it is submitted.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from flask_babel import gettext as _

from backoffice import audit
from backoffice.criteria.engine import CompiledSet
from backoffice.auth.policy import may
from backoffice.domain import AssessmentKind
from backoffice.errors import Refused
from backoffice.extensions import db
from backoffice.models import Assessment, User
from backoffice.models.assessments import FollowUp
from backoffice.models.base import utcnow

NOTE_MAX = 500
FINDINGS_MAX = 4000
REMEDY_NOTE_MAX = 2000
DEADLINE_MAX_DAYS = 366  # a remedy is due within a year of the inspection


class FollowUpError(Refused):
    """A follow-up step that does not apply now (already closed, nothing remedied yet…): nothing changed."""


@dataclass
class Record:
    """An inspection's own entries, cleaned."""

    notes: dict[str, str] = field(default_factory=dict)
    findings: str = ""
    deadline: date | None = None


def clean_record(compiled: CompiledSet, notes: dict[str, Any], findings: Any, deadline: Any,
                 today: date) -> tuple[Record, dict[str, str]]:
    """The record and the errors (field key → message): keys `note:<criterion id>`, `findings`, `remedy_deadline`."""
    errors: dict[str, str] = {}
    ids = {c.spec.id for c in compiled.criteria}
    kept = {}
    for crit_id, text in (notes or {}).items():
        text = (text or "").strip()
        if crit_id not in ids or not text:
            continue
        if len(text) > NOTE_MAX:
            errors[f"note:{crit_id}"] = _("At most %(max)d characters.", max=NOTE_MAX)
        kept[crit_id] = text
    findings = (findings or "").strip()
    if len(findings) > FINDINGS_MAX:
        errors["findings"] = _("At most %(max)d characters.", max=FINDINGS_MAX)
    if deadline is not None and not isinstance(deadline, date):
        errors["remedy_deadline"] = _("Enter a date.")
        deadline = None
    if deadline is not None and deadline < today:
        errors["remedy_deadline"] = _("The deadline cannot be before the inspection day.")
    elif deadline is not None and deadline > today + timedelta(days=DEADLINE_MAX_DAYS):
        errors["remedy_deadline"] = _("The deadline must be within a year of the inspection.")
    return Record(kept, findings, deadline), errors


def needs_remedy(compiled: CompiledSet, result: dict) -> bool:
    """Whether the result leaves something the organization must remedy."""
    level = compiled.spec.level(result.get("level", ""))
    if level is not None and not level.may_operate:
        return True
    return any(r["critical"] and r["status"] == "scored" and not r["passed"] for r in result.get("criteria", []))


def store_draft(assessment: Assessment, record: Record) -> None:
    assessment.criterion_notes = record.notes
    assessment.findings = record.findings
    assessment.remedy_deadline = record.deadline


def on_submit(assessment: Assessment, compiled: CompiledSet, record: Record, user: User,
              now: datetime) -> dict[str, str]:
    """Store the record and open (or close) the follow-up; the errors when a deadline is needed but missing."""
    if record.deadline is None and needs_remedy(compiled, assessment.result or {}):
        return {"remedy_deadline": _("The organization has something to remedy: set a deadline.")}
    store_draft(assessment, record)
    if record.deadline is not None:
        assessment.follow_up = FollowUp.OPEN.value
    else:  # nothing to remedy: there is nothing to follow up
        assessment.follow_up = FollowUp.CLOSED.value
        assessment.closed_at, assessment.closed_by_id = now, user.id
    return {}


def overdue(assessment: Assessment, today: date) -> bool:
    """An open follow-up past its deadline."""
    return assessment.follow_up == FollowUp.OPEN.value and assessment.remedy_deadline is not None and \
        assessment.remedy_deadline < today


def _inspection(user: User, assessment_id: int) -> Assessment:
    from backoffice.criteria.service import NotFound, get_assessment
    assessment = get_assessment(user, assessment_id)
    if assessment.kind != AssessmentKind.INSPECTION.value or assessment.follow_up is None:
        raise NotFound(assessment_id)
    return assessment


def mark_remedied(user: User, assessment_id: int, note: str, now: datetime | None = None) -> Assessment:
    """The organization (its admin) or an inspector says the findings were remedied, and how."""
    from backoffice.criteria.service import Forbidden
    assessment = _inspection(user, assessment_id)
    own = may(user, "criteria.self_assess") and user.organization_id == assessment.organization_id
    if not (own or may(user, "compliance.inspect")):
        raise Forbidden("follow_up.remedied")
    if assessment.follow_up != FollowUp.OPEN.value:
        raise FollowUpError(_("Only an open follow-up can be marked remedied."))
    note = (note or "").strip()
    if not note:
        raise FollowUpError(_("Say what was done to remedy the findings."))
    if len(note) > REMEDY_NOTE_MAX:
        raise FollowUpError(_("At most %(max)d characters.", max=REMEDY_NOTE_MAX))
    assessment.follow_up = FollowUp.REMEDIED.value
    assessment.remedied_at, assessment.remedied_by_id, assessment.remedy_note = now or utcnow(), user.id, note
    audit.record("inspection.remedied", assessment, actor=user, before={"follow_up": FollowUp.OPEN.value},
                 after={"follow_up": assessment.follow_up, "note": note})
    db.session.commit()
    return assessment


def close(user: User, assessment_id: int, now: datetime | None = None) -> Assessment:
    """An inspector accepts the remedy: the follow-up is closed."""
    from backoffice.criteria.service import Forbidden
    assessment = _inspection(user, assessment_id)
    if not may(user, "compliance.inspect"):
        raise Forbidden("follow_up.close")
    if assessment.follow_up != FollowUp.REMEDIED.value:
        raise FollowUpError(_("Only a follow-up marked remedied can be closed."))
    assessment.follow_up = FollowUp.CLOSED.value
    assessment.closed_at, assessment.closed_by_id = now or utcnow(), user.id
    audit.record("inspection.closed", assessment, actor=user, before={"follow_up": FollowUp.REMEDIED.value},
                 after={"follow_up": assessment.follow_up})
    db.session.commit()
    return assessment


def reopen(user: User, assessment_id: int, now: datetime | None = None) -> Assessment:
    """An inspector does not accept the remedy: the follow-up is open again (the remedy's record is kept in the
    audit log)."""
    from backoffice.criteria.service import Forbidden
    assessment = _inspection(user, assessment_id)
    if not may(user, "compliance.inspect"):
        raise Forbidden("follow_up.reopen")
    if assessment.follow_up != FollowUp.REMEDIED.value:
        raise FollowUpError(_("Only a follow-up marked remedied can be reopened."))
    before = {"follow_up": assessment.follow_up,
              "remedied_at": assessment.remedied_at.isoformat() if assessment.remedied_at else None,
              "note": assessment.remedy_note}
    assessment.follow_up = FollowUp.OPEN.value
    assessment.remedied_at = assessment.remedied_by_id = assessment.remedy_note = None
    audit.record("inspection.reopened", assessment, actor=user, before=before, after={"follow_up": "open"})
    db.session.commit()
    return assessment
