"""Operations on assessments: start (freezing the set version), save a draft, submit (facts + score), compare.

Each verb takes the acting user, checks scope and role, does its work in one transaction and writes the
audit log. Views, CLI and API call these; none of them re-implements a rule.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from backoffice import audit, rules_in_force
from backoffice.auth.policy import may
from backoffice.auth.scope import get_in_scope_or_404, scope
from backoffice.criteria import inspections
from backoffice.criteria.engine import CompiledSet
from backoffice.criteria.facts import compute_facts
from backoffice.criteria.loader import LoadedSet
from backoffice.criteria.registry import SUITE, registry
from backoffice.criteria.schema import AnswerKind, Criterion, Input
from backoffice.domain import AssessmentKind, AssessmentState
from backoffice.errors import Invalid, OutOfRole, OutOfScope
from backoffice.extensions import db
from backoffice.models import Assessment, CriteriaSetVersion, Organization, User
from backoffice.models.base import utcnow
from backoffice.timeutil import local_today


class NotFound(OutOfScope):
    """The record does not exist or is out of the user's scope (views answer 404)."""


class Forbidden(OutOfRole):
    """In scope, but the user's role may not do this (views answer 403, audited)."""


class NotOffered(Invalid):
    """The set is not one of those for the organization's sector (views answer 400; nothing is created)."""


class SetVersionConflict(RuntimeError):
    pass


class AnswerErrors(Invalid):
    """Missing or out-of-range answers: item id → message. Nothing was saved."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


# --- reading ---------------------------------------------------------------------------------------
def get_organization(user: User, org_id: int) -> Organization:
    try:
        return get_in_scope_or_404(Organization, org_id, user)
    except OutOfScope:
        raise NotFound(org_id) from None


def get_assessment(user: User, assessment_id: int) -> Assessment:
    try:
        return get_in_scope_or_404(Assessment, assessment_id, user)
    except OutOfScope:
        raise NotFound(assessment_id) from None


def compiled_for(assessment: Assessment) -> CompiledSet:
    return registry().compiled_for(assessment.set_version)


def history(user: User, org: Organization) -> list[Assessment]:
    stmt = scope(select(Assessment).where(Assessment.organization_id == org.id), user) \
        .order_by(Assessment.submitted_at.desc().nulls_first(), Assessment.id.desc())
    return list(db.session.scalars(stmt))


def latest_self_assessment(org_id: int, set_id: str | None = None) -> Assessment | None:
    stmt = select(Assessment).where(Assessment.organization_id == org_id,
                                    Assessment.kind == AssessmentKind.SELF.value,
                                    Assessment.submitted_at.is_not(None))
    if set_id:
        stmt = stmt.where(Assessment.ruleset_id == set_id)
    return db.session.scalar(stmt.order_by(Assessment.submitted_at.desc()).limit(1))


# --- freezing ----------------------------------------------------------------------------------------
def freeze(loaded: LoadedSet) -> CriteriaSetVersion:
    """The stored copy of this set version, created on first use; refuses a file edited without a new version."""
    stmt = select(CriteriaSetVersion).where(CriteriaSetVersion.set_id == loaded.spec.id,
                                            CriteriaSetVersion.version == loaded.spec.version)
    row = db.session.scalar(stmt)
    if row is None:
        try:
            with db.session.begin_nested():  # a concurrent first use may insert the same version
                row = CriteriaSetVersion(set_id=loaded.spec.id, version=loaded.spec.version,
                                         content_sha256=loaded.sha256, content=loaded.content,
                                         first_used_at=utcnow())
                db.session.add(row)
        except IntegrityError:
            row = db.session.scalar(stmt)
    if row.content_sha256 != loaded.sha256:
        raise SetVersionConflict(
            f"{loaded.file}: set {loaded.spec.id} version {loaded.spec.version}: content differs from the version "
            f"already used by stored assessments (sha256 {row.content_sha256[:12]}… stored, {loaded.sha256[:12]}… "
            f"now): give the changed set a new version")
    return row


# --- answers -------------------------------------------------------------------------------------------
def _clean_one(item: Criterion | Input, raw: Any) -> Any:
    """One answer in its stored form, or ValueError with the message for the person."""
    if item.answer == AnswerKind.YES_NO:
        if raw in (True, "yes"):
            return "yes"
        if raw in (False, "no"):
            return "no"
        raise ValueError(_("Choose yes or no."))
    if item.answer == AnswerKind.CHOICE:
        options = {o.id for o in item.options or []}
        if str(raw) not in options:
            raise ValueError(_("Choose one of the options."))
        return str(raw)
    try:
        number = float(str(raw).strip().replace(",", ".")) if not isinstance(raw, (int, float)) else float(raw)
    except ValueError:
        raise ValueError(_("Enter a number.")) from None
    if not math.isfinite(number):
        raise ValueError(_("Enter a number."))
    if item.integer and not number.is_integer():
        raise ValueError(_("Enter a whole number."))
    if number < item.min or number > item.max:
        raise ValueError(_("Enter a number between %(min)s and %(max)s.", min=f"{item.min:g}", max=f"{item.max:g}"))
    return int(number) if item.integer else number


def clean_answers(compiled: CompiledSet, answers: dict[str, Any], require_all: bool) -> dict[str, Any]:
    """Keep the asked items only, typed; every missing (when required) or bad answer is reported at once."""
    cleaned, errors = {}, {}
    for item in compiled.asked():
        raw = answers.get(item.id)
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            if require_all:
                errors[item.id] = _("This answer is required.")
            continue
        try:
            cleaned[item.id] = _clean_one(item, raw)
        except ValueError as exc:
            errors[item.id] = str(exc)
    if errors:
        raise AnswerErrors(errors)
    return cleaned


# --- verbs -----------------------------------------------------------------------------------------------
def _may_assess(user: User, org: Organization, kind: AssessmentKind) -> bool:
    if kind == AssessmentKind.SELF:
        return may(user, "criteria.self_assess") and user.organization_id == org.id
    return may(user, "compliance.inspect")


def start_assessment(user: User, org_id: int, set_id: str, kind: AssessmentKind = AssessmentKind.SELF) -> Assessment:
    """A draft assessment of `org` with the version of `set_id` in force today (an open draft is reused)."""
    org = get_organization(user, org_id)
    if not _may_assess(user, org, kind):
        raise Forbidden(kind.value)
    rules_in_force.require(SUITE)  # a set started here is frozen from this host's file
    loaded = registry().current(set_id, local_today())
    if loaded is None:
        raise NotFound(set_id)
    offered, _general = registry().offered(org.sector, local_today())
    if loaded.key not in {s.key for s in offered}:
        # The pages offer only the sets of the organization's sector: another is a forged choice.
        raise NotOffered(set_id)
    version = freeze(loaded)
    draft = db.session.scalar(select(Assessment).where(
        Assessment.organization_id == org.id, Assessment.kind == kind.value,
        Assessment.state == AssessmentState.DRAFT.value, Assessment.set_version_id == version.id,
        Assessment.created_by_id == user.id))
    if draft is not None:
        db.session.commit()
        return draft
    assessment = Assessment(organization_id=org.id, district_code=org.district_code, kind=kind.value,
                            state=AssessmentState.DRAFT.value, set_version_id=version.id, ruleset_id=loaded.spec.id,
                            ruleset_version=loaded.spec.version, answers={}, facts={}, created_by_id=user.id)
    db.session.add(assessment)
    db.session.flush()
    audit.record("assessment.start", assessment, actor=user,
                 after={"kind": kind.value, "set": loaded.spec.id, "version": loaded.spec.version})
    db.session.commit()
    return assessment


def _editable(user: User, assessment: Assessment) -> None:
    if assessment.state != AssessmentState.DRAFT.value:
        raise Forbidden("submitted")
    if assessment.kind == AssessmentKind.SELF.value:
        if not (may(user, "criteria.self_assess") and user.organization_id == assessment.organization_id):
            raise Forbidden("self")
    elif not (may(user, "compliance.edit_others") or assessment.created_by_id == user.id):
        raise Forbidden("inspection")


def save_answers(user: User, assessment_id: int, answers: dict[str, Any], submit: bool,
                 now: datetime | None = None, notes: dict[str, str] | None = None, findings: str = "",
                 remedy_deadline: date | None = None) -> Assessment:
    """Save a draft (answers may be missing, none may be bad) or submit (every answer required): facts are
    computed from data at that moment, scored, and stored with the result. An inspection also keeps its notes
    per criterion, findings and deadline to remedy (criteria.inspections). Nothing is saved on any error."""
    assessment = get_assessment(user, assessment_id)
    _editable(user, assessment)
    compiled = compiled_for(assessment)
    inspection = assessment.kind == AssessmentKind.INSPECTION.value
    record, record_errors = inspections.clean_record(compiled, notes or {}, findings, remedy_deadline,
                                                     local_today()) if inspection else (None, {})
    try:
        cleaned = clean_answers(compiled, answers, require_all=submit)
    except AnswerErrors as exc:
        raise AnswerErrors({**exc.errors, **record_errors}) from None
    if record_errors:
        raise AnswerErrors(record_errors)
    before = {"answers": assessment.answers}
    assessment.answers = cleaned
    if record is not None:
        inspections.store_draft(assessment, record)
    if submit:
        now = now or utcnow()
        org = assessment.organization
        assessment.facts = compute_facts(compiled.fact_names, org, now)
        result = compiled.score(cleaned, assessment.facts)
        _store_result(assessment, result)
        if record is not None:
            missing = inspections.on_submit(assessment, compiled, record, user, now)
            if missing:
                db.session.rollback()
                raise AnswerErrors(missing)
        assessment.state = AssessmentState.SUBMITTED.value
        assessment.submitted_at = now
        assessment.submitted_by_id = user.id
        assessment.district_code = org.district_code
        audit.record("assessment.submit", assessment, actor=user, before=before,
                     after={"answers": cleaned, "level": assessment.level, "percent": assessment.percent,
                            "set": assessment.ruleset_id, "version": assessment.ruleset_version,
                            **({"notes": record.notes, "findings": record.findings,
                                "remedy_deadline": record.deadline.isoformat() if record.deadline else None,
                                "follow_up": assessment.follow_up} if record is not None else {})})
    else:
        audit.record("assessment.save_draft", assessment, actor=user, before=before, after={"answers": cleaned})
    db.session.commit()
    return assessment


def _store_result(assessment: Assessment, result: dict) -> None:
    assessment.result = result
    assessment.score = result["aggregates"]["score"]
    assessment.percent = result["aggregates"]["percent"]
    assessment.level = result["level"]


def rescore(assessment: Assessment) -> dict:
    """The result its stored answers and facts give with its frozen set (equal to the stored one)."""
    return compiled_for(assessment).score(assessment.answers or {}, assessment.facts or {})


@dataclass
class Disagreement:
    criterion_id: str
    inspection: dict
    self_assessment: dict | None

    @property
    def differs(self) -> bool:
        if self.self_assessment is None:
            return False
        return (self.inspection.get("points"), self.inspection.get("status")) != \
            (self.self_assessment.get("points"), self.self_assessment.get("status"))


def compare(inspection: Assessment) -> tuple[Assessment | None, list[Disagreement]]:
    """The inspection against the organization's latest self-assessment (same set when there is one),
    criterion by criterion."""
    own = latest_self_assessment(inspection.organization_id, inspection.ruleset_id) or \
        latest_self_assessment(inspection.organization_id)
    theirs = {r["id"]: r for r in (own.result or {}).get("criteria", [])} if own else {}
    rows = [Disagreement(r["id"], r, theirs.get(r["id"])) for r in (inspection.result or {}).get("criteria", [])]
    return own, rows


def verify_stored_results(chunk: int = 10_000) -> tuple[int, list[int]]:
    """Re-score every submitted assessment with its frozen set and list those whose stored result differs
    (there should be none: a stored result never changes). A batch job: the cyclic garbage collector is
    paused within each chunk, since the results are plain acyclic dicts and collecting during the loop
    would cost more than the scoring itself."""
    import gc

    reg = registry()
    versions = {v.id: reg.compiled_for(v) for v in db.session.scalars(select(CriteriaSetVersion))}
    stmt = select(Assessment.id, Assessment.set_version_id, Assessment.answers, Assessment.facts,
                  Assessment.result).where(Assessment.submitted_at.is_not(None)).order_by(Assessment.id)
    checked, different = 0, []
    for part in db.session.execute(stmt.execution_options(yield_per=chunk)).partitions():
        enabled = gc.isenabled()
        gc.disable()
        try:
            for assessment_id, version_id, answers, facts, stored in part:
                if versions[version_id].score(answers or {}, facts or {}) != stored:
                    different.append(assessment_id)
            checked += len(part)
        finally:
            if enabled:
                gc.enable()
    return checked, different
