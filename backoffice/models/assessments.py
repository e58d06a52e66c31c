"""Self-assessments and inspections against versioned criteria sets."""
from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Date, Float, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backoffice.domain import AssessmentKind, AssessmentState
from backoffice.models.base import Base, JSONType, TimestampMixin, UTCDateTime
from backoffice.models.orgs import Organization, _enum_check


class FollowUp(StrEnum):
    """An inspection's follow-up: open until the organization remedies its findings, closed by an inspector."""

    OPEN = "open"
    REMEDIED = "remedied"
    CLOSED = "closed"


class CriteriaSetVersion(Base):
    """A frozen copy of a criteria set as it was when first used: stored results display with these texts
    and re-score with these rules, whatever later happens to the YAML file."""

    __tablename__ = "criteria_set_versions"
    __table_args__ = (UniqueConstraint("set_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    set_id: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(32))
    content_sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[dict] = mapped_column(JSONType)  # the validated set, as loaded
    first_used_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Assessment(TimestampMixin, Base):
    """A self-assessment (kind=self) or an inspection (kind=inspection) of one organization."""

    __tablename__ = "assessments"
    __table_args__ = (
        CheckConstraint(_enum_check("kind", AssessmentKind), name="kind"),
        CheckConstraint(_enum_check("state", AssessmentState), name="state"),
        CheckConstraint("follow_up IS NULL OR " + _enum_check("follow_up", FollowUp), name="follow_up"),
        Index("ix_assessments_org_kind_submitted", "organization_id", "kind", "submitted_at"),
        Index("ix_assessments_district_submitted", "district_code", "submitted_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    district_code: Mapped[int] = mapped_column(ForeignKey("districts.code"))  # the org's, at the time
    kind: Mapped[str] = mapped_column(String(16), default=AssessmentKind.SELF.value)
    state: Mapped[str] = mapped_column(String(16), default=AssessmentState.DRAFT.value)
    set_version_id: Mapped[int] = mapped_column(ForeignKey("criteria_set_versions.id"))
    ruleset_id: Mapped[str] = mapped_column(String(64))
    ruleset_version: Mapped[str] = mapped_column(String(32))
    answers: Mapped[dict] = mapped_column(JSONType, default=dict)
    facts: Mapped[dict] = mapped_column(JSONType, default=dict)
    result: Mapped[dict | None] = mapped_column(JSONType)  # per-criterion points and reasons
    score: Mapped[float | None] = mapped_column(Float)
    percent: Mapped[float | None] = mapped_column(Float)
    level: Mapped[str | None] = mapped_column(String(32))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    note: Mapped[str] = mapped_column(String(2000), default="")
    # Inspections only (migration 0013): the inspector's note per criterion (criterion id → text), the findings,
    # the deadline to remedy them and the follow-up (open → remedied → closed, each step dated and signed).
    criterion_notes: Mapped[dict | None] = mapped_column(JSONType)
    findings: Mapped[str | None] = mapped_column(String(4000))
    remedy_deadline: Mapped[date | None] = mapped_column(Date)
    follow_up: Mapped[str | None] = mapped_column(String(16))
    remedied_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    remedied_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    remedy_note: Mapped[str | None] = mapped_column(String(2000))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    organization: Mapped[Organization] = relationship()
    set_version: Mapped[CriteriaSetVersion] = relationship()
